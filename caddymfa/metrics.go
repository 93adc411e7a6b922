package caddymfa

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The collectors exist once per process and join the registry of every
// config that loads (each reload brings a fresh registry), so counts
// survive reloads. Everything but the histogram is fed from audit events,
// so a metric and its audit entry can never disagree; lockouts_total is
// moved with the `lockout` event that starts a lock (lockStarted), not by
// the ones that refuse attempts while it lasts.
//
// There is no active-sessions gauge: most sessions end silently when
// session_idle passes, sessions slide and may be shared by several
// instances, so a process-local count would only ever grow and mislead.
var metrics = newMetrics()

type metricSet struct {
	signins      *prometheus.CounterVec
	challenges   *prometheus.CounterVec
	lockouts     *prometheus.CounterVec
	enrollments  *prometheus.CounterVec
	logouts      prometheus.Counter
	verification *prometheus.HistogramVec
}

func newMetrics() metricSet {
	const ns, sub = "caddy", "mfa"
	m := metricSet{
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "signins_total",
			Help: "First-factor (password) sign-in attempts that were evaluated, by outcome.",
		}, []string{"outcome"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "challenges_total",
			Help: "Second-factor codes that were evaluated, by factor type and outcome.",
		}, []string{"factor", "outcome"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "lockouts_total",
			Help: "Locks put in force by a failure, by kind (user_locked, ip_locked, locked, hard_locked, window_locked).",
		}, []string{"kind"}),
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "enrollments_total",
			Help: "Authenticator enrollments, by outcome (started, success, failure).",
		}, []string{"outcome"}),
		logouts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "logouts_total",
			Help: "Sessions ended by their user.",
		}),
		verification: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "verification_duration_seconds",
			Help:    "Time to check a second factor, store included, by factor type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"factor"}),
	}
	// Known series start at zero, so rates and alerts work before the
	// first event.
	for _, o := range []string{"success", "failure"} {
		m.signins.WithLabelValues(o)
		m.challenges.WithLabelValues("totp", o)
		m.challenges.WithLabelValues("recovery_code", o)
		m.enrollments.WithLabelValues(o)
	}
	m.enrollments.WithLabelValues("started")
	for _, k := range []string{"user_locked", "ip_locked", "locked", "hard_locked", "window_locked"} {
		m.lockouts.WithLabelValues(k)
	}
	return m
}

// registerMetrics adds the collectors to a config's registry. Several mfa
// handlers in one config register the same collectors; that is fine.
func registerMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		metrics.signins, metrics.challenges, metrics.lockouts,
		metrics.enrollments, metrics.logouts, metrics.verification,
	} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

// countEvent moves the counter an audit event stands for.
func countEvent(event, factorType, outcome string) {
	switch event {
	case "signin":
		metrics.signins.WithLabelValues(outcome).Inc()
	case "challenge":
		metrics.challenges.WithLabelValues(factorType, outcome).Inc()
	case "enrollment_started":
		metrics.enrollments.WithLabelValues("started").Inc()
	case "enrollment":
		metrics.enrollments.WithLabelValues(outcome).Inc()
	case "logout":
		metrics.logouts.Inc()
	}
}

// timeVerification starts timing one second-factor check; call the
// result when the check is done. Wall time, not the handler's clock:
// tests freeze that one.
func timeVerification(factorType string) func() {
	start := time.Now()
	return func() { observeVerification(factorType, time.Since(start)) }
}

// observeVerification records a second-factor check that took d.
func observeVerification(factorType string, d time.Duration) {
	metrics.verification.WithLabelValues(factorType).Observe(d.Seconds())
}
