package main

import (
	"strings"
	"testing"
	"time"
)

// TestEachRoundOrder: "abc" runs plain, mfa, fwd in every round;
// "abc-bac" lets plain and mfa trade places every other round, fwd last.
// Each round renews the session once, before its first site.
func TestEachRoundOrder(t *testing.T) {
	for order, want := range map[string]string{
		"abc":     "h plain mfa fwd | h plain mfa fwd | h plain mfa fwd | h plain mfa fwd",
		"abc-bac": "h plain mfa fwd | h mfa plain fwd | h plain mfa fwd | h mfa plain fwd",
	} {
		var got []string
		header := func() ([]string, error) {
			if len(got) > 0 {
				got = append(got, "|")
			}
			got = append(got, "h")
			return nil, nil
		}
		err := eachRound(options{rounds: 4, order: order}, testSites, header, func(round int, s site, _ []string) error {
			got = append(got, s.name)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("-order %s runs %q, want %q", order, g, want)
		}
	}
}

// TestOptionsCheck: the flag defaults pass; a bad value or combination is
// refused with a message naming the flag.
func TestOptionsCheck(t *testing.T) {
	good := options{auth: "cookie", request: "browser", order: "abc", rounds: 5, duration: time.Second, connections: 32}
	if err := good.check(); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*options)
		flag   string
	}{
		"order":            {func(o *options) { o.order = "cba" }, "-order"},
		"aa and bypass":    {func(o *options) { o.aaControl, o.control = true, true }, "-aa-control"},
		"aa and headers":   {func(o *options) { o.aaControl, o.headersControl = true, true }, "-aa-control"},
		"aa and mfa lines": {func(o *options) { o.aaControl, o.mfaConfig = true, "bypass /*" }, "-aa-control"},
		"request":          {func(o *options) { o.request = "curl" }, "-request"},
		"cache sim":        {func(o *options) { o.cacheSim = true }, "-cache-sim"},
	} {
		o := good
		tc.change(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: got %v, want an error naming %s", name, err, tc.flag)
		}
	}
	for _, o := range []options{{aaControl: true}, {order: "abc-bac"}} {
		o.auth, o.request, o.rounds, o.duration, o.connections = good.auth, good.request, good.rounds, good.duration, good.connections
		if o.order == "" {
			o.order = "abc"
		}
		if err := o.check(); err != nil {
			t.Errorf("%+v refused: %v", o, err)
		}
	}
}
