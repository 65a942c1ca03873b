package realtime_test

import (
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/node"
)

// TestAdministrationClosesSockets: deactivation, erasure and a redeemed
// password reset revoke every login of the student on every node, and
// their open sockets close with 4401, on whichever node they are.
func TestAdministrationClosesSockets(t *testing.T) {
	t.Parallel()
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{}, 3, quickQuiz(1, 30))
	admin := sc.Teacher // the registering teacher is the school's admin
	join := func(i int) *client.Socket { return joinStudent(t, ctx, cl, sc, sess, i) }
	waitClose := func(t *testing.T, s *client.Socket, want websocket.StatusCode) { waitClosed(t, ctx, s, want) }
	t.Run("deactivated", func(t *testing.T) {
		s := join(0)
		if _, err := admin.Do(ctx, http.MethodPatch, "/api/v1/users/"+sc.Students[0].ID, map[string]any{"active": false}, nil); err != nil {
			t.Fatal(err)
		}
		waitClose(t, s, 4401)
	})
	t.Run("erased", func(t *testing.T) {
		s := join(1)
		if _, err := admin.Do(ctx, http.MethodDelete, "/api/v1/students/"+sc.Students[1].ID, nil, nil); err != nil {
			t.Fatal(err)
		}
		waitClose(t, s, 4401)
	})
	t.Run("password reset", func(t *testing.T) {
		s := join(2)
		var code struct {
			ResetCode string `json:"reset_code"`
		}
		if _, err := admin.Do(ctx, http.MethodPost, "/api/v1/users/"+sc.Students[2].ID+"/password-reset", nil, &code); err != nil {
			t.Fatal(err)
		}
		if _, err := client.New(cl.URL(1)).Do(ctx, http.MethodPost, "/api/v1/auth/password-reset", map[string]string{
			"email": sc.Students[2].Email, "reset_code": code.ResetCode, "new_password": "a brand new password"}, nil); err != nil {
			t.Fatal(err)
		}
		waitClose(t, s, 4401)
	})
	// The session still counts the erased student as a participant.
	var snap client.Snapshot
	if _, err := admin.Do(ctx, http.MethodGet, "/api/v1/sessions/"+sess.ID, nil, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Participants != 3 {
		t.Fatalf("participants after erasure: %d, want 3", snap.Participants)
	}
}
