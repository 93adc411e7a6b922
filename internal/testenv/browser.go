package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of a Chromium or Chrome binary, or fails the
// test naming the Debian package chromium.
func Chromium(t testing.TB) string {
	t.Helper()
	return lookTool(t, "chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
}

// Browser starts a headless Chromium with a fresh profile and a 1280x900
// window and returns a chromedp context for its first tab. The browser is
// stopped at cleanup; its own output goes to chromium.log in ArtifactDir.
func Browser(t testing.TB) context.Context {
	t.Helper()
	bin := Chromium(t)
	logFile, err := os.Create(filepath.Join(ArtifactDir(t), "chromium.log"))
	if err != nil {
		t.Fatalf("testenv: browser log: %v", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(logFile),
	)
	logs := &testLog{t: t}
	ctx, cancelBrowser := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(logs.logf),
		chromedp.WithErrorf(logs.logf),
	)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		logs.close()
		logFile.Close()
	})
	// Start the browser now, so a broken install fails here and not in the
	// middle of the caller's first action.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("testenv: start %s: %v (see %s)", bin, err, logFile.Name())
	}
	return ctx
}

// testLog forwards chromedp's messages to the test log until the test's
// cleanup has stopped the browser; the testing package panics on a log call
// after the test has finished.
type testLog struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
}

func (l *testLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Logf("chromedp: "+format, args...)
	}
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// Screenshot saves a full-page PNG of the current tab as <name>.png in
// ArtifactDir and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("testenv: screenshot %q: %v", name, err)
	}
	path := filepath.Join(ArtifactDir(t), sanitize(strings.TrimSuffix(name, ".png"))+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("testenv: save screenshot: %v", err)
	}
	return path
}
