package main

import (
	"testing"
	"time"
)

func TestWrkDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"4.02ms", 4020 * time.Microsecond},
		{"13.65ms", 13650 * time.Microsecond},
		{"812.00us", 812 * time.Microsecond},
		{"1.20s", 1200 * time.Millisecond},
		{"0.00us", 0},
		{"4.02", 0},
		{"fast ms", 0},
	} {
		if got := wrkDuration(c.in); got != c.want {
			t.Errorf("wrkDuration(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
