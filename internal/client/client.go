// Package client is a Go client of the Quizcast contract (REST and
// WebSocket), as the whiteboard and notebook apps use it. The integration
// tests and the load generator speak to servers only through it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Client calls one server node.
type Client struct {
	Base  string // http://host:port
	Token string // access token, when logged in
	HTTP  *http.Client
}

// New returns a client of base.
func New(base string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// With returns a copy of c using token.
func (c *Client) With(token string) *Client {
	cp := *c
	cp.Token = token
	return &cp
}

// Error is a non-2xx answer in the contract's error shape.
type Error struct {
	Status  int
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s %v", e.Status, e.Code, e.Message, e.Fields)
}

// Do sends a JSON request and decodes a JSON answer into out (if not nil).
// It returns the status; a status ≥ 400 is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error Error `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		e.Error.Status = resp.StatusCode
		return resp.StatusCode, &e.Error
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// User is the contract's user.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	SchoolID string `json:"school_id"`
}

// Login is the answer of login and refresh.
type Login struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	User         User   `json:"user"`
}

// Register creates a school and its admin.
func (c *Client) Register(ctx context.Context, name, email, password, school string) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/auth/register",
		map[string]string{"name": name, "email": email, "password": password, "school_name": school}, &out)
	return out.User, err
}

// Login logs in.
func (c *Client) Login(ctx context.Context, email, password string) (Login, error) {
	var out Login
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &out)
	return out, err
}

// Classroom is the contract's classroom.
type Classroom struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	TeacherID string `json:"teacher_id"`
}

// CreateClassroom creates a classroom.
func (c *Client) CreateClassroom(ctx context.Context, name string) (Classroom, error) {
	var out Classroom
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/classrooms", map[string]string{"name": name}, &out)
	return out, err
}

// NewStudent is one student to enrol.
type NewStudent struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Enrol enrols students (creating their accounts).
func (c *Client) Enrol(ctx context.Context, classroomID string, students []NewStudent) ([]User, error) {
	var out struct {
		Items []User `json:"items"`
	}
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/classrooms/"+classroomID+"/students", map[string]any{"students": students}, &out)
	return out.Items, err
}

// Option is a question's option.
type Option struct {
	ID   string `json:"id,omitempty"`
	Text string `json:"text"`
}

// Question is a quiz question (correct holds option indexes).
type Question struct {
	ID         string   `json:"id,omitempty"`
	Text       string   `json:"text"`
	Kind       string   `json:"kind"`
	Options    []Option `json:"options"`
	Correct    []int    `json:"correct"`
	TimeLimitS int      `json:"time_limit_s,omitempty"`
	Points     *int     `json:"points,omitempty"`
}

// Quiz is the contract's quiz.
type Quiz struct {
	ID        string     `json:"id,omitempty"`
	Version   int        `json:"version,omitempty"`
	Title     string     `json:"title"`
	Questions []Question `json:"questions"`
}

// CreateQuiz creates a quiz.
func (c *Client) CreateQuiz(ctx context.Context, q Quiz) (Quiz, error) {
	var out Quiz
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/quizzes", q, &out)
	return out, err
}

// Snapshot is the session snapshot.
type Snapshot struct {
	ID              string `json:"id"`
	QuizID          string `json:"quiz_id"`
	ClassroomID     string `json:"classroom_id"`
	TeacherID       string `json:"teacher_id"`
	State           string `json:"state"`
	QuestionCount   int    `json:"question_count"`
	Participants    int    `json:"participants"`
	Seq             int64  `json:"seq"`
	CurrentQuestion *struct {
		ID     string `json:"id"`
		Index  int    `json:"index"`
		Closed bool   `json:"closed"`
	} `json:"current_question"`
}

// CreateSession opens a session in the lobby.
func (c *Client) CreateSession(ctx context.Context, quizID, classroomID string) (Snapshot, error) {
	var out Snapshot
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"quiz_id": quizID, "classroom_id": classroomID}, &out)
	return out, err
}

// Command runs start, next, close or end over REST.
func (c *Client) Command(ctx context.Context, sessionID, cmd string) (Snapshot, error) {
	var out Snapshot
	_, err := c.Do(ctx, http.MethodPost, "/api/v1/sessions/"+sessionID+"/"+cmd, nil, &out)
	return out, err
}

// Frame is a WebSocket message.
type Frame struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Seq  int64           `json:"seq,omitempty"`
	Data json.RawMessage `json:"data"`
	// At is when the frame was read (not on the wire).
	At time.Time `json:"-"`
}

// Socket is an open session WebSocket.
type Socket struct {
	WS     *websocket.Conn
	frames chan Frame
	err    error
	done   chan struct{}
}

// DialOptions are the optional handshake parameters.
type DialOptions struct {
	LastSeq *int64
	Ticket  string
	Origin  string
	Header  http.Header
	// Buffer is how many received frames wait for Next (default 1024); a
	// load generator holding thousands of sockets keeps it small.
	Buffer int
}

// Dial opens the session's socket; the handshake's HTTP status is returned
// with a refusal.
func (c *Client) Dial(ctx context.Context, sessionID string, o DialOptions) (*Socket, int, error) {
	u := strings.Replace(c.Base, "http", "ws", 1) + "/api/v1/sessions/" + sessionID + "/ws"
	q := url.Values{}
	if o.LastSeq != nil {
		q.Set("last_seq", strconv.FormatInt(*o.LastSeq, 10))
	}
	if o.Ticket != "" {
		q.Set("ticket", o.Ticket)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	if c.Token != "" && o.Ticket == "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	ws.SetReadLimit(1 << 20)
	buffer := o.Buffer
	if buffer <= 0 {
		buffer = 1024
	}
	s := &Socket{WS: ws, frames: make(chan Frame, buffer), done: make(chan struct{})}
	go s.read()
	return s, http.StatusSwitchingProtocols, nil
}

func (s *Socket) read() {
	defer close(s.done)
	defer close(s.frames)
	for {
		_, data, err := s.WS.Read(context.Background())
		// Taken before decoding, so latencies measured from At do not
		// include this client's own JSON work.
		at := time.Now()
		if err != nil {
			s.err = err
			return
		}
		var f Frame
		if err := json.Unmarshal(data, &f); err != nil {
			s.err = fmt.Errorf("bad frame %q: %w", data, err)
			return
		}
		f.At = at
		s.frames <- f
	}
}

// Next returns the next frame, or the error that closed the socket.
func (s *Socket) Next(ctx context.Context) (Frame, error) {
	select {
	case f, ok := <-s.frames:
		if !ok {
			return Frame{}, s.err
		}
		return f, nil
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// Expect returns the next frame of type typ, skipping others.
func (s *Socket) Expect(ctx context.Context, typ string) (Frame, error) {
	for {
		f, err := s.Next(ctx)
		if err != nil {
			return f, fmt.Errorf("waiting for %s: %w", typ, err)
		}
		if f.Type == typ {
			return f, nil
		}
	}
}

// Send writes a frame.
func (s *Socket) Send(ctx context.Context, typ, id string, data any) error {
	raw, err := json.Marshal(map[string]any{"type": typ, "id": id, "data": data})
	if err != nil {
		return err
	}
	return s.WS.Write(ctx, websocket.MessageText, raw)
}

// Err returns why the socket closed (after Next returned an error).
func (s *Socket) Err() error { return s.err }

// CloseStatus is the close code the server sent, or -1.
func (s *Socket) CloseStatus() websocket.StatusCode { return websocket.CloseStatus(s.err) }

// Close closes the socket.
func (s *Socket) Close() { _ = s.WS.Close(websocket.StatusNormalClosure, "") }

// Done is closed when the socket's reader ended.
func (s *Socket) Done() <-chan struct{} { return s.done }
