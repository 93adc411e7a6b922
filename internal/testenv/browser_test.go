package testenv

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserSubmitsForm(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>form</title>
<form method="post" action="/greet">
  <label>Name <input id="name" name="name"></label>
  <button id="send" type="submit">Send</button>
</form>`)
	})
	mux.HandleFunc("POST /greet", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>greeting</title><p id="result">Hello, %s</p>`,
			html.EscapeString(r.PostFormValue("name")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx := Browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.SendKeys(chromedp.ID("name"), "Ada"),
	); err != nil {
		t.Fatalf("fill the form: %v", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("send"))); err != nil {
		t.Fatalf("submit the form: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatalf("read the result: %v", err)
	}
	if got != "Hello, Ada" {
		t.Fatalf("result = %q, want %q", got, "Hello, Ada")
	}

	path := Screenshot(t, ctx, "greeting")
	if filepath.Dir(path) != ArtifactDir(t) {
		t.Fatalf("screenshot saved to %s, want it in %s", path, ArtifactDir(t))
	}
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG", path)
	}
}
