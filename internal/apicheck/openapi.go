// Package apicheck holds the traffic of the tests to what api/openapi.yaml
// and api/asyncapi.yaml promise, so that the descriptions cannot drift from
// the code: Handler wraps a server's handler and validates every request
// and response it exchanges against the OpenAPI document (kin-openapi's
// openapi3filter), and every WebSocket frame it sends or receives against
// the AsyncAPI payload schemas. A response or frame outside its schema
// fails the test that caused it.
//
// Requests are checked the other way round: a test may send a request that
// the OpenAPI document forbids (that is how refusals are tested), but the
// server must then refuse it with a 4xx; a client frame outside its schema
// must be answered with an `error` frame of code `invalid_message`.
package apicheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/quizcast/quizcast/api"
)

// OpenAPI is api/openapi.yaml loaded, validated and routed.
type OpenAPI struct {
	doc    *openapi3.T
	router routers.Router
}

// LoadOpenAPI parses spec (api.OpenAPI in the tests), refuses it unless
// kin-openapi accepts it, and routes by path whatever the server's host.
func LoadOpenAPI(spec []byte) (*OpenAPI, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi is not valid: %w", err)
	}
	// The test servers listen on random loopback ports.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi: %w", err)
	}
	return &OpenAPI{doc: doc, router: router}, nil
}

var (
	loadOnce sync.Once
	loaded   *OpenAPI
	asyncDoc *AsyncAPI
	loadErr  error
)

// specs loads both embedded documents once per test binary.
func specs(t testing.TB) (*OpenAPI, *AsyncAPI) {
	t.Helper()
	loadOnce.Do(func() {
		if loaded, loadErr = LoadOpenAPI(api.OpenAPI); loadErr != nil {
			return
		}
		asyncDoc, loadErr = LoadAsyncAPI(api.AsyncAPI)
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded, asyncDoc
}

// Exchange checks one request and its response against the document. It
// returns nil when both conform, or when the request is outside the
// document and the server refused it with a 4xx.
func (o *OpenAPI) Exchange(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	ctx := context.Background()
	if strings.HasPrefix(req.URL.Path, "/app/") && status < 400 {
		// The web client's files: static assets of many media types under
		// one documented path; the browser tests check what they do. Their
		// refusals still go through the error shape below.
		return nil
	}
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		// A path or method the document does not know (unrouted, or a
		// route a test added) may only be refused, in the error shape.
		if status < 400 {
			return fmt.Errorf("%s %s is not in api/openapi.yaml but answered %d", req.Method, req.URL.Path, status)
		}
		return o.errorShape(req, status, header, body)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("%s %s: the request is outside api/openapi.yaml, yet the server answered %d: %v", req.Method, req.URL.Path, status, reqErr)
	}
	if status == http.StatusSwitchingProtocols {
		return nil
	}
	// The response must conform whatever the request was.
	in.Options = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                in.Options,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("%s %s answered %d outside api/openapi.yaml: %v\nbody: %.600s", req.Method, req.URL.Path, status, err, body)
	}
	return nil
}

// errorShape checks that a refusal outside any operation has the one
// error shape of components/schemas/Error.
func (o *OpenAPI) errorShape(req *http.Request, status int, header http.Header, body []byte) error {
	ref := o.doc.Components.Schemas["Error"]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("api/openapi.yaml has no components/schemas/Error")
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%s %s answered %d as %q, not the JSON error shape", req.Method, req.URL.Path, status, ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s answered %d with a body that is not JSON: %.200s", req.Method, req.URL.Path, status, body)
	}
	if err := ref.Value.VisitJSON(v); err != nil {
		return fmt.Errorf("%s %s answered %d outside the error shape: %v\nbody: %.600s", req.Method, req.URL.Path, status, err, body)
	}
	return nil
}

// Handler wraps h (a test server's handler) so that every exchange is
// checked against api/openapi.yaml and every WebSocket frame against
// api/asyncapi.yaml; a mismatch fails t. Checks stop when t's cleanups
// run, so a server that outlives its test reports nothing then.
func Handler(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	oa, aa := specs(t)
	r := &reporter{t: t}
	t.Cleanup(r.finish)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reqBody, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		// A copy for the check: the handler may change the original.
		check := req.Clone(req.Context())
		// Frames are checked as they pass; compression would hide them.
		req.Header.Del("Sec-WebSocket-Extensions")
		rec := &recorder{ResponseWriter: w, status: http.StatusOK, frames: aa, report: r}
		h.ServeHTTP(rec, req)
		status := rec.status
		if rec.hijacked {
			status = http.StatusSwitchingProtocols
		}
		if err := oa.Exchange(check, reqBody, status, rec.Header(), rec.body.Bytes()); err != nil {
			r.errorf("%v", err)
		}
	})
}

// reporter fails its test until the test's cleanups begin.
type reporter struct {
	t       testing.TB
	mu      sync.Mutex
	done    bool
	pending []*frameConn
}

func (r *reporter) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		r.t.Errorf("apicheck: "+format, args...)
	}
}

func (r *reporter) track(c *frameConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, c)
}

// finish reports the client frames outside the schema that the server did
// not refuse, then stops reporting.
func (r *reporter) finish() {
	r.mu.Lock()
	conns := r.pending
	r.mu.Unlock()
	for _, c := range conns {
		for _, msg := range c.unrefused() {
			r.errorf("%s", msg)
		}
	}
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
}

// recorder keeps what the handler writes beside writing it, and hands a
// frame-checking connection to a WebSocket upgrade.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
	hijacked    bool
	frames      *AsyncAPI
	report      *reporter
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("apicheck: %T cannot hijack", r.ResponseWriter)
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	r.hijacked = true
	// Bytes the server already buffered are read first, through the tap.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	fc := newFrameConn(conn, io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn), r.frames, r.report)
	r.report.track(fc)
	return fc, bufio.NewReadWriter(bufio.NewReader(fc), bufio.NewWriter(fc)), nil
}
