package rabbitmq

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	// dialTimeout bounds a connection attempt when ctx has no sooner
	// deadline.
	dialTimeout = 5 * time.Second
	// closeTimeout bounds the close handshake of a connection we give up.
	closeTimeout = 2 * time.Second
)

// dial connects to url, named so operators see who is connected. wrap, if
// not nil, wraps the TCP connection.
func dial(ctx context.Context, url, name string, wrap func(net.Conn) net.Conn) (*amqp.Connection, error) {
	timeout := dialTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(url, amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, timeout)
			if err == nil && wrap != nil {
				c = wrap(c)
			}
			return c, err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial: %w", err)
	}
	return conn, nil
}

// corkedConn holds back what amqp091 writes while it is corked and sends
// it in one write when uncorked. amqp091 flushes after every publish, so a
// batch of n messages was n write system calls and n TCP segments; corked,
// it is one (loadgen broker: ≈ 3 µs less of the publisher's CPU per
// message; RabbitMQ's own cost did not change beyond the runs' spread).
type corkedConn struct {
	net.Conn
	mu     sync.Mutex // serialises writes with cork and uncork
	corked bool
	buf    []byte
}

// maxCorkBuffer is the largest buffer kept between batches.
const maxCorkBuffer = 4 << 20

// Write sends p, or keeps it until Uncork while corked.
func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Cork holds back writes until Uncork.
func (c *corkedConn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork sends what was held back, in one write, and stops holding back.
func (c *corkedConn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > maxCorkBuffer {
		c.buf = nil
	}
	return err
}

// confirmChannel opens a channel in publisher-confirm mode and declares the
// topology on it.
func confirmChannel(conn *amqp.Connection, topo Topology) (*amqp.Channel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: open channel: %w", err)
	}
	if err := topo.Declare(ch); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("rabbitmq: confirm mode: %w", err)
	}
	return ch, nil
}

// Backoff is a capped exponential delay between reconnection attempts.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the delay before the next attempt and doubles it.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return d
}

// Reset starts over from Min after a success.
func (b *Backoff) Reset() { b.next = 0 }

// Sleep waits d or until ctx ends; false when ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
