package rabbitmq

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// A corked connection sends nothing until Uncork, then everything held
// back in one write, in order; uncorked, writes go straight through.
func TestCorkedConnHoldsWritesUntilUncork(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := &corkedConn{Conn: client}
	defer c.Close()
	got := make(chan []byte, 10)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := server.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()

	c.Cork()
	for _, s := range []string{"one ", "two ", "three"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("corked Write(%q) = %d, %v", s, n, err)
		}
	}
	select {
	case b := <-got:
		t.Fatalf("a corked connection sent %q", b)
	case <-time.After(50 * time.Millisecond):
	}
	done := make(chan error, 1)
	go func() { done <- c.Uncork() }()
	// net.Pipe delivers one Write per Read when the buffer is big enough:
	// one read holding everything means one write.
	if b := <-got; !bytes.Equal(b, []byte("one two three")) {
		t.Fatalf("after Uncork the peer read %q, want all three writes in one", b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.Write([]byte("four")) }()
	if b := <-got; string(b) != "four" {
		t.Fatalf("uncorked write arrived as %q", b)
	}
	go func() { done <- c.Uncork() }() // nothing held: no write
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, ok := <-got; ok {
		t.Fatal("Uncork with nothing held wrote something")
	}
	if _, err := c.Write([]byte("x")); err == nil || err == io.EOF {
		t.Fatalf("Write after Close = %v, want the connection's error", err)
	}
}
