package caddymfa

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// BenchmarkServeHTTPCold is BenchmarkServeHTTP's cookie and bearer
// requests with the CPU's caches emptied before each one, as they are in a
// Caddy that has just done a request's other work (parsing, proxying,
// logging): only the request itself, parsed just before, is warm. Inside a
// real Caddy the handler costs about what this reports, not what
// BenchmarkServeHTTP does.
func BenchmarkServeHTTPCold(b *testing.B) {
	for _, c := range []struct {
		name string
		req  func(tok string) string
	}{{"cookie", browserRequest}, {"bearer", apiRequest}} {
		b.Run(c.name, func(b *testing.B) {
			h := newBenchHandler(b, nil)
			raw := c.req(benchSession(b, h))
			w := &nopWriter{h: http.Header{}}
			next := &sawAlice{}
			if err := h.ServeHTTP(w, caddyRequest(b, raw, w), next); err != nil || next.user != "alice" {
				b.Fatalf("the benchmark request did not pass: err %v, upstream saw %q", err, next.user)
			}
			// Twice the size of the biggest last-level cache we run on.
			evict := make([]byte, 8<<20)
			var timed, clock time.Duration
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			b.ResetTimer()
			for i := range b.N {
				if i%1024 == 0 {
					runtime.GC()
				}
				for j := 0; j < len(evict); j += 64 {
					evict[j]++
				}
				r := caddyRequest(b, raw, w)
				// Each request is timed alone; what one clock reading
				// adds to that interval is measured next to it and taken
				// off.
				t0 := time.Now()
				t1 := time.Now()
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				clock += t1.Sub(t0)
				timed += t2.Sub(t1)
			}
			b.ReportMetric(float64((timed-clock).Nanoseconds())/float64(b.N), "ns/op")
		})
	}
}
