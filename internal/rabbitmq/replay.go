package rabbitmq

import (
	"context"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeadLetter describes one message of the dead-letter queue.
type DeadLetter struct {
	MessageID  string
	RoutingKey string
	// Reason is the worker's x-quizcast-reason, else RabbitMQ's x-death
	// reason (delivery_limit, …), else empty.
	Reason string
}

// ReplayOptions tune ReplayDeadLetters.
type ReplayOptions struct {
	// Limit is the most messages handled; 0 means those that were in the
	// queue when the replay started (so messages that fail again and come
	// back are not replayed in a loop).
	Limit int
	// DryRun only lists the messages: they are returned to the queue
	// unchanged.
	DryRun bool
	// Each is called for every message handled (may be nil).
	Each func(DeadLetter)
}

// replayBatch is how many messages are republished before their confirms
// are awaited and the originals acknowledged together.
const replayBatch = 200

// deathHeaders are set by RabbitMQ (or the worker) when a message is
// dead-lettered; a replayed message starts without them.
var deathHeaders = []string{"x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
	"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count", ReasonHeader}

// ReplayDeadLetters moves the messages of the topology's dead-letter queue
// back to its events exchange, with their routing key, id, time and body,
// so the worker stores them (storing is idempotent: a replayed event stored
// before is dropped as a duplicate). A batch's originals are acknowledged
// only after RabbitMQ confirmed its copies as routed, so a failure leaves
// them in the dead-letter queue (at worst both places: replaying again is
// safe). It returns how many messages it handled.
func ReplayDeadLetters(ctx context.Context, url string, topo Topology, o ReplayOptions) (int, error) {
	conn, err := dial(ctx, url, "quizcast-replay-dlq", nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(closeTimeout)) }()
	ch, err := confirmChannel(conn, topo)
	if err != nil {
		return 0, err
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, replayBatch))
	q, err := ch.QueueDeclarePassive(topo.DeadLetterQueue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
	if err != nil {
		return 0, fmt.Errorf("rabbitmq: inspect %s: %w", topo.DeadLetterQueue, err)
	}
	limit := q.Messages
	if o.Limit > 0 {
		limit = min(limit, o.Limit)
	}
	done := 0
	var held []amqp.Delivery
	flush := func() error {
		if len(held) == 0 || o.DryRun {
			return nil
		}
		err := republish(ctx, ch, topo, held, returns)
		last := held[len(held)-1].DeliveryTag
		held = held[:0]
		if err != nil {
			_ = ch.Nack(last, true, true)
			return err
		}
		if err := ch.Ack(last, true); err != nil {
			return fmt.Errorf("rabbitmq: ack replayed dead letters: %w", err)
		}
		return nil
	}
	for done < limit {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		d, ok, err := ch.Get(topo.DeadLetterQueue, false)
		if err != nil {
			return done, fmt.Errorf("rabbitmq: get from %s: %w", topo.DeadLetterQueue, err)
		}
		if !ok {
			break
		}
		held = append(held, d)
		done++
		if o.Each != nil {
			o.Each(DeadLetter{MessageID: d.MessageId, RoutingKey: d.RoutingKey, Reason: deathReason(d.Headers)})
		}
		if len(held) == replayBatch {
			if err := flush(); err != nil {
				return done - replayBatch, err
			}
		}
	}
	n := len(held)
	if err := flush(); err != nil {
		return done - n, err
	}
	if o.DryRun && done > 0 {
		// Everything listed goes back to the queue as it was.
		if err := ch.Nack(held[len(held)-1].DeliveryTag, true, true); err != nil {
			return done, fmt.Errorf("rabbitmq: return listed dead letters: %w", err)
		}
	}
	return done, nil
}

// republish publishes copies of ds to the events exchange and waits until
// every one is confirmed and none came back unroutable.
func republish(ctx context.Context, ch *amqp.Channel, topo Topology, ds []amqp.Delivery, returns <-chan amqp.Return) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	confirms := make([]*amqp.DeferredConfirmation, 0, len(ds))
	for _, d := range ds {
		headers := amqp.Table{}
		for k, v := range d.Headers {
			headers[k] = v
		}
		for _, k := range deathHeaders {
			delete(headers, k)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(wctx, topo.Exchange, d.RoutingKey, true, false, amqp.Publishing{
			Headers: headers, ContentType: d.ContentType, DeliveryMode: amqp.Persistent,
			MessageId: d.MessageId, Timestamp: d.Timestamp, Body: d.Body,
		})
		if err != nil {
			return fmt.Errorf("rabbitmq: replay to %s: %w", topo.Exchange, err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(wctx)
		if err != nil {
			return fmt.Errorf("rabbitmq: replay confirm: %w", err)
		}
		if !ok {
			return fmt.Errorf("rabbitmq: %s nacked a replayed message", topo.Exchange)
		}
	}
	select {
	case r := <-returns:
		return fmt.Errorf("rabbitmq: replayed message %s unroutable (%s): is the worker queue bound?", r.MessageId, r.ReplyText)
	default:
	}
	return nil
}

// deathReason is why a message was dead-lettered, from its headers.
func deathReason(h amqp.Table) string {
	if r, ok := h[ReasonHeader].(string); ok && r != "" {
		return r
	}
	if deaths, ok := h["x-death"].([]any); ok && len(deaths) > 0 {
		if t, ok := deaths[0].(amqp.Table); ok {
			if r, ok := t["reason"].(string); ok {
				return r
			}
		}
	}
	if r, ok := h["x-first-death-reason"].(string); ok {
		return r
	}
	return ""
}

// oneLine flattens a reason for one-line output.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// String is the dead letter as one line: id, routing key and reason.
func (d DeadLetter) String() string {
	return fmt.Sprintf("%s\t%s\t%s", d.MessageID, d.RoutingKey, oneLine(d.Reason))
}
