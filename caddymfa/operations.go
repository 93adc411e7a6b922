package caddymfa

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
)

// provisionOperations shows this handler to operators: its metrics join
// the config's registry, and the admin API can reach its store.
func (h *Handler) provisionOperations(ctx caddy.Context) error {
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("mfa: metrics: %w", err)
	}
	h.makeReachable(ctx)
	return nil
}
