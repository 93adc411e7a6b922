package caddymfa

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// auditEntry is one audit event. Fields are fixed so log pipelines can
// rely on them; no value a user typed as a secret (password, code, token)
// is ever among them.
type auditEntry struct {
	Event     string
	User      string
	ClientIP  string
	Factor    string
	Outcome   string
	RequestID string
	Host      string
}

// auditEvent records an event of request r on the module's "audit" logger
// and moves the metric it stands for.
func (h *Handler) auditEvent(r *http.Request, event, user, factorType, outcome string, extra ...zap.Field) {
	countEvent(event, factorType, outcome)
	if ce := h.audit.Check(zap.InfoLevel, event); ce != nil {
		ce.Write(auditEntry{
			Event: event, User: user, ClientIP: clientIP(r), Factor: factorType, Outcome: outcome,
			RequestID: requestID(r), Host: r.Host,
		}.fields(h.now(), extra)...)
	}
}

// auditAction records an event that no request of the HTTP app carries,
// such as an operator's call to the admin API.
func (h *Handler) auditAction(e auditEntry, extra ...zap.Field) {
	countEvent(e.Event, e.Factor, e.Outcome)
	if ce := h.audit.Check(zap.InfoLevel, e.Event); ce != nil {
		ce.Write(e.fields(h.now(), extra)...)
	}
}

func (e auditEntry) fields(now time.Time, extra []zap.Field) []zap.Field {
	return append([]zap.Field{
		zap.String("event", e.Event),
		zap.String("user", e.User),
		zap.String("client_ip", e.ClientIP),
		zap.String("factor", e.Factor),
		zap.String("outcome", e.Outcome),
		zap.String("request_id", e.RequestID),
		zap.String("host", e.Host),
		zap.Time("time", now.UTC()),
	}, extra...)
}

func codesLeft(n int) zap.Field { return zap.Int("codes_left", n) }

// requestID is Caddy's per-request UUID, the one access logs can show.
func requestID(r *http.Request) string {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return ""
	}
	v, _ := repl.GetString("http.request.uuid")
	return v
}

func (h *Handler) logStoreError(msg string, err error) {
	h.logger.Error(msg, zap.Error(err))
}
