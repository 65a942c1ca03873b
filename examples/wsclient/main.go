// Command wsclient is a small, complete client of a Quizcast live session
// over WebSocket, as a notebook app would be: it joins a session, prints
// every frame it receives (one JSON line each), and as a student answers
// each opened question with its first option. It exits when the session
// ends or the socket closes. docs/api-walkthrough.md runs it.
//
//	go run ./examples/wsclient -base http://localhost:8080 -session SESSION_ID -token ACCESS_TOKEN
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wsclient:", err)
		os.Exit(1)
	}
}

// frame is the envelope of every message (docs/protocol.md).
type frame struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Seq  int64           `json:"seq,omitempty"`
	Data json.RawMessage `json:"data"`
}

// question is what the client reads of an opened question.
type question struct {
	ID      string `json:"id"`
	Options []struct {
		ID string `json:"id"`
	} `json:"options"`
	Closed bool `json:"closed"`
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("wsclient", flag.ContinueOnError)
	base := fs.String("base", "http://localhost:8080", "the server's base URL")
	session := fs.String("session", "", "the session id")
	token := fs.String("token", os.Getenv("QUIZCAST_TOKEN"), "an access token (default $QUIZCAST_TOKEN)")
	answer := fs.Bool("answer", true, "as a student, answer each opened question with its first option")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *session == "" || *token == "" {
		return errors.New("-session and -token are required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	url := strings.Replace(strings.TrimRight(*base, "/"), "http", "ws", 1) + "/api/v1/sessions/" + *session + "/ws"
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + *token}},
	})
	if err != nil {
		if resp != nil {
			// Refusals come before the upgrade, in the REST error shape.
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("handshake refused: %d %s", resp.StatusCode, body)
		}
		return err
	}
	defer ws.CloseNow()

	student := false
	answered := map[string]bool{}
	answerQ := func(q question) error {
		if !student || !*answer || q.Closed || len(q.Options) == 0 || answered[q.ID] {
			return nil
		}
		answered[q.ID] = true
		return send(ctx, ws, "answer", "a-"+q.ID, map[string]any{"question_id": q.ID, "choices": []string{q.Options[0].ID}})
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil // the session ended
			}
			return fmt.Errorf("socket closed: %w", err)
		}
		fmt.Fprintf(out, "%s\n", data)
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("bad frame: %w", err)
		}
		switch f.Type {
		case "welcome":
			var w struct {
				Session struct {
					State           string    `json:"state"`
					CurrentQuestion *question `json:"current_question"`
				} `json:"session"`
				You struct {
					Role string `json:"role"`
				} `json:"you"`
			}
			if err := json.Unmarshal(f.Data, &w); err != nil {
				return err
			}
			student = w.You.Role == "student"
			if w.Session.CurrentQuestion != nil {
				if err := answerQ(*w.Session.CurrentQuestion); err != nil {
					return err
				}
			}
		case "question.opened":
			var d struct {
				Question question `json:"question"`
			}
			if err := json.Unmarshal(f.Data, &d); err != nil {
				return err
			}
			if err := answerQ(d.Question); err != nil {
				return err
			}
		case "session.ended":
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return nil
		}
	}
}

func send(ctx context.Context, ws *websocket.Conn, typ, id string, data any) error {
	raw, err := json.Marshal(map[string]any{"type": typ, "id": id, "data": data})
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, raw)
}
