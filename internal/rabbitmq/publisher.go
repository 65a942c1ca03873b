package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Message is one event to publish.
type Message struct {
	// RoutingKey is the event name.
	RoutingKey string
	// MessageID is the event id, so consumers and operators can trace it.
	MessageID string
	Body      []byte
	Timestamp time.Time
}

// MaxBatch is the most messages one Publish call takes.
const MaxBatch = 10_000

// ErrNotConfirmed means RabbitMQ did not take every message of a batch (a
// nack, an unroutable message, a lost channel or no confirm in time); the
// caller publishes the whole batch again later.
var ErrNotConfirmed = errors.New("rabbitmq: batch not confirmed")

// Publisher publishes batches of events to the topology's exchange with
// publisher confirms. It connects lazily and again after any failure, so a
// RabbitMQ outage makes Publish fail fast until RabbitMQ is back; it never
// blocks the caller beyond the connect and confirm timeouts. Safe for
// concurrent use; batches are published one at a time.
type Publisher struct {
	url            string
	name           string
	topo           Topology
	confirmTimeout time.Duration

	mu      sync.Mutex
	live    atomic.Pointer[amqp.Connection] // conn, for the watchdog
	conn    *amqp.Connection
	cork    *corkedConn // conn's socket
	ch      *amqp.Channel
	returns chan amqp.Return
}

// NewPublisher returns a publisher to url; name identifies the connection in
// RabbitMQ; confirmTimeout bounds the wait for a batch's confirms.
func NewPublisher(url, name string, topo Topology, confirmTimeout time.Duration) *Publisher {
	return &Publisher{url: url, name: name, topo: topo, confirmTimeout: confirmTimeout}
}

// Publish sends msgs in order as persistent JSON messages and returns nil
// only when RabbitMQ has confirmed every one of them as routed to a queue.
// The confirms are pipelined: the whole batch is written, then the confirms
// are awaited together, so a batch costs about one round trip plus the
// queue's fsync, not one per message.
func (p *Publisher) Publish(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(msgs) > MaxBatch {
		return fmt.Errorf("rabbitmq: batch of %d messages is larger than %d", len(msgs), MaxBatch)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// amqp091 does not interrupt a write blocked on the socket nor an RPC
	// (the topology's declares) that gets no reply, for example from a
	// RabbitMQ that is booting or blocked. The relay calls Publish inside
	// the transaction that holds an outbox partition, so a hang here
	// would stop that partition for good. The watchdog closes the
	// connection when the connect and confirm bounds have passed, which
	// makes every blocked call return.
	wd, cancelWD := context.WithTimeout(ctx, dialTimeout+p.confirmTimeout)
	defer cancelWD()
	stop := context.AfterFunc(wd, func() {
		if c := p.live.Load(); c != nil {
			_ = c.CloseDeadline(time.Now().Add(closeTimeout))
		}
	})
	defer stop()
	if err := p.connect(ctx); err != nil {
		return err
	}
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	// The batch is written to the socket at once, when it is whole.
	p.cork.Cork()
	for _, m := range msgs {
		// mandatory: a message no queue takes comes back as a return
		// instead of vanishing, and the batch fails.
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.topo.Exchange, m.RoutingKey, true, false, amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			MessageId:    m.MessageID,
			Timestamp:    m.Timestamp,
			Body:         m.Body,
		})
		if err != nil {
			p.reset()
			return fmt.Errorf("%w: publish: %w", ErrNotConfirmed, err)
		}
		confirms = append(confirms, dc)
	}
	if err := p.cork.Uncork(); err != nil {
		p.reset()
		return fmt.Errorf("%w: publish: %w", ErrNotConfirmed, err)
	}
	wctx, cancel := context.WithTimeout(ctx, p.confirmTimeout)
	defer cancel()
	nacked := 0
	for _, dc := range confirms {
		ok, err := dc.WaitContext(wctx)
		if err != nil {
			// The channel's confirms are now out of step with our batches:
			// start over on a fresh channel.
			p.reset()
			return fmt.Errorf("%w: waiting for confirms: %w", ErrNotConfirmed, err)
		}
		if !ok {
			nacked++
		}
	}
	// RabbitMQ sends basic.return before the message's ack and the client
	// queues it before handling the ack, so every return of this batch is
	// in the buffer now.
	returned := 0
	for drained := false; !drained; {
		select {
		case <-p.returns:
			returned++
		default:
			drained = true
		}
	}
	if nacked > 0 || returned > 0 {
		// A closed channel nacks what is pending; an unroutable message
		// means the queue or binding is gone: redeclare on a new channel.
		p.reset()
		return fmt.Errorf("%w: %d of %d nacked, %d unroutable", ErrNotConfirmed, nacked, len(msgs), returned)
	}
	return nil
}

// connect makes sure there is an open confirm channel with the topology
// declared.
func (p *Publisher) connect(ctx context.Context) error {
	if p.ch != nil && !p.ch.IsClosed() && !p.conn.IsClosed() {
		return nil
	}
	p.reset()
	var cork *corkedConn
	conn, err := dial(ctx, p.url, p.name, func(c net.Conn) net.Conn {
		cork = &corkedConn{Conn: c}
		return cork
	})
	if err != nil {
		return err
	}
	p.live.Store(conn)
	ch, err := confirmChannel(conn, p.topo)
	if err != nil {
		p.live.Store(nil)
		_ = conn.Close()
		return err
	}
	// Sized for the largest batch: the client blocks on a full returns
	// channel, and only Publish reads it.
	p.returns = ch.NotifyReturn(make(chan amqp.Return, MaxBatch))
	p.conn, p.cork, p.ch = conn, cork, ch
	return nil
}

// reset drops the connection; the next Publish reconnects.
func (p *Publisher) reset() {
	if p.conn != nil {
		// A deadline: a half-open socket must not hang the relay.
		_ = p.conn.CloseDeadline(time.Now().Add(closeTimeout))
	}
	p.conn, p.cork, p.ch, p.returns = nil, nil, nil, nil
	p.live.Store(nil)
}

// Close closes the connection.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset()
	return nil
}
