package caddymfa

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestCaddyfileAdapt")

const goldenSep = "\n----------\n"

// TestCaddyfileAdapt checks the JSON each Caddyfile in
// testdata/caddyfile_adapt adapts to (no `order` line needed), and that the
// handler's JSON survives a decode/encode round trip unchanged.
func TestCaddyfileAdapt(t *testing.T) {
	files, _ := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			input, want, _ := strings.Cut(string(data), goldenSep)
			got, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", "\t")
			if *update {
				os.WriteFile(f, []byte(strings.TrimRight(input, "\n")+"\n"+goldenSep+pretty.String()+"\n"), 0o644)
				return
			}
			if !caddytest.CompareAdapt(t, f, input, "caddyfile", strings.TrimRight(want, "\n")) {
				t.Fatal("adapted JSON differs from the golden file (run with -update after checking the diff)")
			}
			for _, raw := range mfaHandlers(t, got) {
				var h Handler
				if err := json.Unmarshal(raw, &h); err != nil {
					t.Fatal(err)
				}
				again, _ := json.Marshal(h)
				var a, b map[string]any
				json.Unmarshal(raw, &a)
				json.Unmarshal(again, &b)
				delete(a, "handler")
				if !reflect.DeepEqual(a, b) {
					t.Errorf("JSON round trip changed the handler:\n%s\n%s", raw, again)
				}
			}
		})
	}
}

// mfaHandlers finds every mfa handler object in an adapted config.
func mfaHandlers(t *testing.T, cfg []byte) []json.RawMessage {
	var out []json.RawMessage
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "mfa" {
				raw, _ := json.Marshal(x)
				out = append(out, raw)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var root any
	json.Unmarshal(cfg, &root)
	walk(root)
	if len(out) == 0 {
		t.Fatal("no mfa handler in the adapted config")
	}
	return out
}

// A mistyped store URL is refused without being quoted: it may hold the
// Redis password.
func TestMistypedStoreURLKeepsThePasswordOut(t *testing.T) {
	for _, arg := range []string{
		"redis:/:S3cr3tPW@127.0.0.1:6379",
		"redis//:S3cr3tPW@127.0.0.1:6379",
		"redis:S3cr3tPW@cache",
		"rediss//app:S3cr3tPW@cache:6380/0",
		"S3cr3tPW@cache",
	} {
		t.Run(arg, func(t *testing.T) {
			d := caddyfile.NewTestDispenser("mfa {\n secret " + testSecret + "\n store " + arg + "\n}")
			err := new(Handler).UnmarshalCaddyfile(d)
			if err == nil {
				t.Fatal("parsed")
			}
			if strings.Contains(err.Error(), "S3cr3tPW") {
				t.Fatalf("error %q quotes the password", err)
			}
			if !strings.Contains(err.Error(), "store: expected file, redis or a redis:// URL") {
				t.Errorf("error %q", err)
			}
		})
	}
}
