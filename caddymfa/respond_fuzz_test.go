package caddymfa

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"
)

// FuzzReadJSON: whatever a client sends, readJSON decodes it or answers
// with a 4xx apiError; it never panics and never yields a 5xx.
func FuzzReadJSON(f *testing.F) {
	for _, seed := range []struct {
		ctype   string
		body    string
		chunked bool
	}{
		{"application/json", `{"username":"alice","password":"x"}`, false},
		{"application/json; charset=utf-8", `{"mfa_token":"t","code":"123456","remember_device":true}`, true},
		{"application/json", `{"username":`, false},
		{"application/json", `{"a":1}{"b":2}`, false},
		{"application/json", `[1,2,3]`, false},
		{"application/json", `{"code":123456}`, false},
		{"application/json", `{"username":"\ud800"}`, false},
		{"application/json", "", true},
		{"text/plain", `{}`, false},
		{"application/x-www-form-urlencoded", `username=a`, false},
		{"", `{}`, false},
		{"application/json; =", `{}`, false},
	} {
		f.Add(seed.ctype, []byte(seed.body), seed.chunked)
	}
	h := &Handler{MaxBody: 1024}
	f.Fuzz(func(t *testing.T, ctype string, body []byte, chunked bool) {
		for _, v := range []any{&loginRequest{}, &verifyRequest{}, &confirmRequest{}} {
			r := httptest.NewRequest("POST", "/_mfa/api/v1/login", bytes.NewReader(body))
			r.Header.Set("Content-Type", ctype)
			if chunked {
				r.ContentLength = -1
			}
			err := h.readJSON(httptest.NewRecorder(), r, v)
			if err == nil {
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Code == "" || ae.Message == "" {
				t.Fatalf("readJSON(%q, %q) = %v, want a 4xx apiError", ctype, body, err)
			}
		}
	})
}
