package main

import (
	"testing"
	"time"
)

func TestLoopbackRefusesOtherHosts(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.8.9.10:8080", true},
		{"http://localhost:8081", true},
		{"http://[::1]:8080", true},
		{"postgres://postgres@127.0.0.1:28432/quizcast?sslmode=disable", true},
		{"postgres:///quizcast?host=/tmp/pg", true},
		{"http://10.0.0.5:8080", false},
		{"http://example.org", false},
		{"http://localhost.example.org:8080", false},
		{"postgres://u@db.internal:5432/quizcast", false},
		{"postgres:///quizcast?host=db.internal", false},
	} {
		if err := loopback(tc.url); (err == nil) != tc.ok {
			t.Errorf("loopback(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestDistNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := dist(ds)
	if d.N != 100 || d.P50 != 50 || d.P95 != 95 || d.P99 != 99 || d.Max != 100 {
		t.Fatalf("dist = %+v", d)
	}
	if got := dist(nil); got != (Dist{}) {
		t.Fatalf("dist(nil) = %+v", got)
	}
}
