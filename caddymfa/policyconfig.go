package caddymfa

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
)

// StepUpRule makes matching requests need a second factor fresher than
// MaxAge, optionally of some types only.
type StepUpRule struct {
	// MatcherSetsRaw are Caddy request matchers; a request matching any
	// set is covered.
	MatcherSetsRaw caddyhttp.RawMatcherSets `json:"match,omitempty" caddy:"namespace=http.matchers"`
	MaxAge         caddy.Duration           `json:"max_age"`
	// Factors, if set, are the only factor types that satisfy the rule.
	Factors []string `json:"factors,omitempty"`

	matchers caddyhttp.MatcherSets
}

// BypassRule lets matching requests through with no check at all.
type BypassRule struct {
	MatcherSetsRaw caddyhttp.RawMatcherSets `json:"match" caddy:"namespace=http.matchers"`

	matchers caddyhttp.MatcherSets
}

// provisionPolicy loads the matchers of the step-up and bypass rules.
func (h *Handler) provisionPolicy(ctx caddy.Context) error {
	for i := range h.StepUp {
		rule := &h.StepUp[i]
		if len(rule.MatcherSetsRaw) == 0 {
			return fmt.Errorf("mfa: step_up #%d: no matcher (it would cover every request; use session_idle for that)", i+1)
		}
		if rule.MaxAge <= 0 {
			return fmt.Errorf("mfa: step_up #%d: max_age must be positive", i+1)
		}
		for _, f := range rule.Factors {
			if !slices.Contains(h.factors, f) {
				return fmt.Errorf("mfa: step_up #%d: factor %q is not one of this site's factors %v", i+1, f, h.factors)
			}
		}
		// Read before loading: LoadModule drops the raw sets.
		empty := emptySet(rule.MatcherSetsRaw)
		mods, err := ctx.LoadModule(rule, "MatcherSetsRaw")
		if err != nil {
			return fmt.Errorf("mfa: step_up #%d: %w", i+1, err)
		}
		if err := rule.matchers.FromInterface(mods); err != nil {
			return fmt.Errorf("mfa: step_up #%d: %w", i+1, err)
		}
		if err := checkMatcherSets(empty, rule.matchers); err != nil {
			return fmt.Errorf("mfa: step_up #%d: %w", i+1, err)
		}
	}
	for i := range h.Bypass {
		rule := &h.Bypass[i]
		if len(rule.MatcherSetsRaw) == 0 {
			return fmt.Errorf("mfa: bypass #%d: no matcher (it would let every request through)", i+1)
		}
		// Read before loading: LoadModule drops the raw sets.
		empty := emptySet(rule.MatcherSetsRaw)
		mods, err := ctx.LoadModule(rule, "MatcherSetsRaw")
		if err != nil {
			return fmt.Errorf("mfa: bypass #%d: %w", i+1, err)
		}
		if err := rule.matchers.FromInterface(mods); err != nil {
			return fmt.Errorf("mfa: bypass #%d: %w", i+1, err)
		}
		if err := checkMatcherSets(empty, rule.matchers); err != nil {
			return fmt.Errorf("mfa: bypass #%d: %w", i+1, err)
		}
	}
	return nil
}

// checkMatcherSets refuses rules that Caddy would load but that cannot be
// what the operator meant: an empty matcher set matches every request (a
// bypass of the whole site), and a path list that is empty, or a path
// that does not start with "/" or "*", matches no request (a step-up that
// protects nothing).
func checkMatcherSets(empty int, sets caddyhttp.MatcherSets) error {
	if empty > 0 {
		return fmt.Errorf("matcher set #%d is empty: it would match every request", empty)
	}
	for _, set := range sets {
		for _, m := range set {
			var paths caddyhttp.MatchPath
			switch p := m.(type) {
			case *caddyhttp.MatchPath:
				paths = *p
			case caddyhttp.MatchPath:
				paths = p
			default:
				continue
			}
			if len(paths) == 0 {
				return errors.New("a path matcher lists no path: it would match no request")
			}
			for _, p := range paths {
				if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
					return fmt.Errorf("path %q matches no request: request paths start with / (a leading * matches a suffix, as in *.php)", p)
				}
			}
		}
	}
	return nil
}

// emptySet is the number (from 1) of the first empty set in raw, or 0.
func emptySet(raw caddyhttp.RawMatcherSets) int {
	for j, set := range raw {
		if len(set) == 0 {
			return j + 1
		}
	}
	return 0
}

// unmarshalStepUp reads `step_up <path>... <max_age>` or a block:
//
//	step_up {
//		match <matcher> <args>...   # repeat; all must match
//		max_age <duration>
//		factors <type>...
//	}
func (h *Handler) unmarshalStepUp(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	var rule StepUpRule
	if len(args) > 0 {
		if len(args) < 2 {
			return d.Errf("step_up: expected `step_up <path>... <max_age>` or a block")
		}
		age, err := caddy.ParseDuration(args[len(args)-1])
		if err != nil {
			return d.Errf("step_up: %q is not a duration such as 5m", args[len(args)-1])
		}
		rule.MaxAge = caddy.Duration(age)
		rule.MatcherSetsRaw = caddyhttp.RawMatcherSets{pathMatcher(args[:len(args)-1])}
		if d.NextBlock(d.Nesting()) {
			return d.Errf("step_up: use either the one-line form or a block")
		}
		h.StepUp = append(h.StepUp, rule)
		return nil
	}
	set := caddy.ModuleMap{}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "match" {
			if err := once(d, "step_up", seen); err != nil {
				return err
			}
		}
		switch d.Val() {
		case "match":
			if err := unmarshalMatch(d, set); err != nil {
				return err
			}
		case "max_age":
			if err := durationArg(d, &rule.MaxAge); err != nil {
				return err
			}
		case "factors":
			rule.Factors = d.RemainingArgs()
			if len(rule.Factors) == 0 {
				return d.ArgErr()
			}
			for _, f := range rule.Factors {
				if f != factor.TypeTOTP && f != factor.TypeRecoveryCode {
					return d.Errf("step_up factors: unknown factor %q (totp, recovery_code)", f)
				}
			}
		default:
			return d.Errf("step_up: unknown setting %q (match, max_age, factors)", d.Val())
		}
	}
	if len(set) == 0 {
		return d.Errf("step_up: the block needs at least one `match` line")
	}
	if rule.MaxAge == 0 {
		return d.Errf("step_up: the block needs `max_age`")
	}
	rule.MatcherSetsRaw = caddyhttp.RawMatcherSets{set}
	h.StepUp = append(h.StepUp, rule)
	return nil
}

// unmarshalBypass reads `bypass <path>...` or a block of `match` lines.
func (h *Handler) unmarshalBypass(d *caddyfile.Dispenser) error {
	if args := d.RemainingArgs(); len(args) > 0 {
		if d.NextBlock(d.Nesting()) {
			return d.Errf("bypass: use either paths or a block")
		}
		h.Bypass = append(h.Bypass, BypassRule{MatcherSetsRaw: caddyhttp.RawMatcherSets{pathMatcher(args)}})
		return nil
	}
	set := caddy.ModuleMap{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "match" {
			return d.Errf("bypass: unknown setting %q (match)", d.Val())
		}
		if err := unmarshalMatch(d, set); err != nil {
			return err
		}
	}
	if len(set) == 0 {
		return d.Errf("bypass: give paths or a block with `match` lines")
	}
	h.Bypass = append(h.Bypass, BypassRule{MatcherSetsRaw: caddyhttp.RawMatcherSets{set}})
	return nil
}

func pathMatcher(paths []string) caddy.ModuleMap {
	return caddy.ModuleMap{"path": caddyconfig.JSON(caddyhttp.MatchPath(paths), nil)}
}

// unmarshalMatch reads one `match <matcher> <args>...` line with Caddy's
// own matcher modules into set.
func unmarshalMatch(d *caddyfile.Dispenser, set caddy.ModuleMap) error {
	if !d.NextArg() {
		return d.Errf("match: which matcher? e.g. `match path /admin/*`")
	}
	name := d.Val()
	if _, dup := set[name]; dup {
		return d.Errf("match %s given twice in one rule: list all values on one line", name)
	}
	mod, err := caddyfile.UnmarshalModule(d, "http.matchers."+name)
	if err != nil {
		return err
	}
	set[name] = caddyconfig.JSON(mod, nil)
	return nil
}

// durationOf is a rule's max age as a time.Duration.
func (r StepUpRule) maxAge() time.Duration { return time.Duration(r.MaxAge) }
