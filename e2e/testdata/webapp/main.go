// Command webapp is the e2e tests' web app inside a container: it echoes
// what reached it, echoes WebSocket messages, streams events and can be
// slow, as Jupyter and TensorBoard do each of these.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	addr := flag.String("addr", ":8080", "where to listen")
	flag.Parse()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/ws"):
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				mt, b, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(mt, b); err != nil {
					return
				}
			}
		case strings.HasSuffix(r.URL.Path, "/slow"):
			time.Sleep(time.Minute)
		case strings.HasSuffix(r.URL.Path, "/events"):
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(300 * time.Millisecond)
			}
		case strings.HasSuffix(r.URL.Path, "/upload"):
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
		default:
			http.SetCookie(w, &http.Cookie{Name: "appcookie", Value: "1", Domain: "127.0.0.1", Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "lxcgate_session", Value: "forged", Path: "/"})
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "host": r.Host, "remote": r.RemoteAddr, "header": r.Header})
		}
	})))
}
