// Package rabbitmq holds the RabbitMQ side: topology, the publisher with
// confirms and the consumer.
package rabbitmq

import (
	"context"
	"fmt"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Ping opens and closes a connection to url: nil when RabbitMQ answers.
func Ping(ctx context.Context, url string) error {
	timeout := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	conn, err := amqp.DialConfig(url, amqp.Config{
		Dial: func(network, addr string) (net.Conn, error) {
			return net.DialTimeout(network, addr, timeout)
		},
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	return conn.Close()
}
