package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Topology names the exchanges and queues of the analytics pipeline. The
// server's relay and the event worker both declare it at start and after
// every reconnect; declaring is idempotent as long as both sides agree on
// the arguments, which is why they share DefaultTopology. Tests give each
// run its own names.
type Topology struct {
	// Exchange is the topic exchange the relay publishes to, routing key =
	// event name.
	Exchange string
	// Queue is the worker's durable quorum queue, bound to every event.
	Queue string
	// DeadLetterExchange (fanout) and DeadLetterQueue receive what cannot
	// be stored: poison messages (published there by the worker with the
	// reason) and messages redelivered more than DeliveryLimit times.
	DeadLetterExchange string
	DeadLetterQueue    string
	// DeliveryLimit bounds the redeliveries of one message before the queue
	// dead-letters it.
	DeliveryLimit int
	// Kind is the worker queue's type; "" is QueueQuorum, the production
	// choice. The other kinds exist to measure what the choice costs
	// (loadgen broker).
	Kind QueueKind
}

// Suffixed returns t with suffix added to every name: a test's or a
// measurement's own exchanges and queues on a shared RabbitMQ.
func (t Topology) Suffixed(suffix string) Topology {
	t.Exchange += suffix
	t.Queue += suffix
	t.DeadLetterExchange += suffix
	t.DeadLetterQueue += suffix
	return t
}

// Delete removes t's queues (with their messages) and exchanges; what is
// already gone is no error. Production never calls it: it is for the
// topologies of tests and measurements.
func (t Topology) Delete(ch *amqp.Channel) error {
	for _, q := range []string{t.Queue, t.DeadLetterQueue} {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return fmt.Errorf("delete queue %s: %w", q, err)
		}
	}
	for _, x := range []string{t.Exchange, t.DeadLetterExchange} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return fmt.Errorf("delete exchange %s: %w", x, err)
		}
	}
	return nil
}

// QueueKind is a RabbitMQ queue type for the worker queue.
type QueueKind string

const (
	// QueueQuorum: replicated, counts deliveries (x-delivery-limit) and
	// dead-letters at-least-once.
	QueueQuorum QueueKind = "quorum"
	// QueueClassic: a durable classic queue, version 2 index; one node, no
	// delivery count.
	QueueClassic QueueKind = "classic"
	// QueueStream: an append-only log read by offset; no delivery count,
	// no dead-lettering, every consumer reads every message.
	QueueStream QueueKind = "stream"
)

// queueArgs are the worker queue's declare arguments for its kind.
func (t Topology) queueArgs() (amqp.Table, error) {
	switch t.Kind {
	case "", QueueQuorum:
		return amqp.Table{
			amqp.QueueTypeArg:        amqp.QueueTypeQuorum,
			"x-delivery-limit":       int64(t.DeliveryLimit),
			"x-dead-letter-exchange": t.DeadLetterExchange,
			"x-dead-letter-strategy": "at-least-once",
			amqp.QueueOverflowArg:    amqp.QueueOverflowRejectPublish,
		}, nil
	case QueueClassic:
		return amqp.Table{
			amqp.QueueTypeArg:        amqp.QueueTypeClassic,
			"x-queue-version":        int64(2),
			"x-dead-letter-exchange": t.DeadLetterExchange,
		}, nil
	case QueueStream:
		return amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeStream}, nil
	}
	return nil, fmt.Errorf("unknown queue kind %q", t.Kind)
}

// DefaultTopology is the production topology (docs/pipeline.md).
func DefaultTopology() Topology {
	return Topology{
		Exchange:           "quizcast.events",
		Queue:              "quizcast.events.worker",
		DeadLetterExchange: "quizcast.events.dlx",
		DeadLetterQueue:    "quizcast.events.dlq",
		DeliveryLimit:      5,
	}
}

// Declare declares the topology on ch.
//
// The worker queue is a quorum queue (replicated, and it counts deliveries,
// which a classic queue does not). It dead-letters at-least-once: RabbitMQ
// keeps a message until the dead-letter queue confirms it, which needs
// x-overflow=reject-publish (the queue has no length limit, so that setting
// never rejects anything here).
func (t Topology) Declare(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(t.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.Exchange, err)
	}
	if err := ch.ExchangeDeclare(t.DeadLetterExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.DeadLetterExchange, err)
	}
	if _, err := ch.QueueDeclare(t.DeadLetterQueue, true, false, false, false, amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.DeadLetterQueue, err)
	}
	if err := ch.QueueBind(t.DeadLetterQueue, "", t.DeadLetterExchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s: %w", t.DeadLetterQueue, err)
	}
	args, err := t.queueArgs()
	if err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(t.Queue, true, false, false, false, args); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.Queue, err)
	}
	if err := ch.QueueBind(t.Queue, "#", t.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s: %w", t.Queue, err)
	}
	return nil
}
