package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	caddyfileadapter "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddymfa/caddy-mfa/caddymfa"
)

// adapt adapts the bench's Caddyfile for the options o to Caddy's JSON.
func adapt(t *testing.T, o options) []byte {
	t.Helper()
	u, err := newBenchUser()
	if err != nil {
		t.Fatal(err)
	}
	text := benchCaddyfile(o, "/tmp/mfabench-test", "127.0.0.1:18000", testSites, "127.0.0.1:18004", "127.0.0.1:18005", u)
	out, warnings, err := caddyfileadapter.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(text), nil)
	if err != nil {
		t.Fatalf("the bench's Caddyfile does not adapt: %v\n%s", err, text)
	}
	for _, w := range warnings {
		t.Errorf("warning adapting the bench's Caddyfile: %s", w.Message)
	}
	return out
}

var testSites = [3]site{{"plain", 18001}, {"mfa", 18002}, {"fwd", 18003}}

// adaptedSites adapts the bench's Caddyfile and returns, per site port,
// the handlers of its routes in order (subroutes flattened) as JSON
// objects.
func adaptedSites(t *testing.T, o options) map[int][]map[string]any {
	t.Helper()
	out := adapt(t, o)
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string          `json:"listen"`
					Routes []json.RawMessage `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	got := map[int][]map[string]any{}
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, s := range testSites {
			if len(srv.Listen) == 1 && strings.HasSuffix(srv.Listen[0], ":"+strconv.Itoa(s.port)) {
				for _, r := range srv.Routes {
					got[s.port] = append(got[s.port], handlers(t, r)...)
				}
			}
		}
	}
	return got
}

// handlers lists a route's handlers, descending into subroutes.
func handlers(t *testing.T, route json.RawMessage) []map[string]any {
	var r struct {
		Handle []map[string]any `json:"handle"`
	}
	if err := json.Unmarshal(route, &r); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, h := range r.Handle {
		if h["handler"] == "subroute" {
			for _, sub := range h["routes"].([]any) {
				b, _ := json.Marshal(sub)
				out = append(out, handlers(t, b)...)
			}
			continue
		}
		out = append(out, h)
	}
	return out
}

func handlerNames(hs []map[string]any) string {
	var names []string
	for _, h := range hs {
		names = append(names, h["handler"].(string))
	}
	return strings.Join(names, " ")
}

// TestCaddyfileSites: the three sites differ only in what stands before
// reverse_proxy; with -headers-control the plain site sets the same four
// identity headers, with the same values, that the mfa site sends.
func TestCaddyfileSites(t *testing.T) {
	got := adaptedSites(t, options{})
	// forward_auth is a reverse_proxy to the auth endpoint.
	for port, want := range map[int]string{18001: "reverse_proxy", 18002: "mfa reverse_proxy", 18003: "reverse_proxy reverse_proxy"} {
		if names := handlerNames(got[port]); names != want {
			t.Errorf("site on port %d runs %q, want %q", port, names, want)
		}
	}

	got = adaptedSites(t, options{headersControl: true})
	plain := got[18001]
	// One request_header handler per header: the Caddyfile has no way to
	// set several request headers in one.
	if names := handlerNames(plain); names != "headers headers headers headers reverse_proxy" {
		t.Fatalf("with -headers-control the plain site runs %q, want four headers handlers then reverse_proxy", names)
	}
	set := map[string]any{}
	for _, h := range plain[:4] {
		for name, v := range h["request"].(map[string]any)["set"].(map[string]any) {
			set[name] = v
		}
	}
	want := map[string]string{"Remote-User": "bench", "Remote-Email": benchEmail, "Remote-Name": benchName, "Remote-Groups": benchGroups}
	if len(set) != len(want) {
		t.Errorf("the plain site sets %v, want exactly %v", set, want)
	}
	for name, value := range want {
		if v, ok := set[name].([]any); !ok || len(v) != 1 || v[0] != value {
			t.Errorf("the plain site sets %s to %v, want %q", name, set[name], value)
		}
	}
	if names := handlerNames(got[18002]); names != "mfa reverse_proxy" {
		t.Errorf("with -headers-control the mfa site runs %q, want it unchanged", names)
	}
}

// TestCaddyfileMFAExtra: -mfa-config and -bypass-control lines, blocks
// included, land in the mfa block, formatted.
func TestCaddyfileMFAExtra(t *testing.T) {
	got := adaptedSites(t, options{mfaConfig: "headers {\n  email off\n}", control: true})
	mfa := got[18002]
	if names := handlerNames(mfa); names != "mfa reverse_proxy" {
		t.Fatalf("the mfa site runs %q", names)
	}
	b, _ := json.Marshal(mfa[0])
	for _, want := range []string{`"bypass":`, `"/*"`, `"email":"-"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the mfa handler's config %s lacks %s", b, want)
		}
	}
}

// TestGlobalOptions: -global's lines reach Caddy's global options, and
// with none there is no logging section (Caddy's default log).
func TestGlobalOptions(t *testing.T) {
	var cfg struct {
		Logging *struct {
			Logs map[string]struct {
				Exclude []string `json:"exclude"`
			} `json:"logs"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(adapt(t, options{}), &cfg); err != nil || cfg.Logging != nil {
		t.Fatalf("without -global: logging %+v, %v; want none", cfg.Logging, err)
	}
	out := adapt(t, options{global: "log default {\nexclude http.handlers.reverse_proxy\n}"})
	if err := json.Unmarshal(out, &cfg); err != nil || cfg.Logging == nil {
		t.Fatalf("with -global: %v\n%s", err, out)
	}
	if got := cfg.Logging.Logs["default"].Exclude; !slices.Equal(got, []string{"http.handlers.reverse_proxy"}) {
		t.Errorf("default log excludes %q, want reverse_proxy's logger", got)
	}
}

// TestAAControl: with -aa-control the mfa site is the plain site, handler
// for handler, also with other global options.
func TestAAControl(t *testing.T) {
	for _, o := range []options{{aaControl: true}, {aaControl: true, global: "log default {\nexclude http.handlers.reverse_proxy\n}"}} {
		got := adaptedSites(t, o)
		plain, _ := json.Marshal(got[18001])
		mfa, _ := json.Marshal(got[18002])
		if string(plain) != string(mfa) || !strings.Contains(string(plain), `"reverse_proxy"`) {
			t.Errorf("with -aa-control (global %q) the mfa site runs %s, want the plain site's %s", o.global, mfa, plain)
		}
	}
	if names := handlerNames(adaptedSites(t, options{})[18002]); names != "mfa reverse_proxy" {
		t.Errorf("without -aa-control the mfa site runs %q", names)
	}
}
