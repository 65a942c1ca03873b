package testenv_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/quizcast/quizcast/internal/testenv"
)

// The harness gives every test the three real services; each is written to
// and read back.
func TestRealServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("postgres", func(t *testing.T) {
		pool, _ := testenv.Database(t)
		var got string
		if err := pool.QueryRow(ctx, `INSERT INTO schools (name) VALUES ('harness') RETURNING name`).Scan(&got); err != nil || got != "harness" {
			t.Fatalf("write/read PostgreSQL: %q %v", got, err)
		}
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testenv.Redis(t)
		key := "test:harness:" + testenv.RandomID()
		if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := rdb.Get(ctx, key).Result(); err != nil || got != "v" {
			t.Fatalf("read Redis: %q %v", got, err)
		}
	})
	t.Run("rabbitmq", func(t *testing.T) {
		conn, err := amqp.Dial(testenv.RabbitMQURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "the message back", func() bool {
			m, ok, err := ch.Get(q.Name, true)
			if err != nil {
				t.Fatal(err)
			}
			return ok && string(m.Body) == "hello"
		})
	})
}
