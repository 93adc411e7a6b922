package main

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
)

// sessionCookie is the mfa handler's session cookie (no cookie_domain).
const sessionCookie = "__Host-mfa_session"

// account signs the bench user in through the JSON API, the way a CLI
// would, computing TOTP codes from the secret enrollment returned.
type account struct {
	base     string
	user     benchUser
	secret   []byte
	lastStep int64
	hc       *http.Client
}

func newAccount(base string, u benchUser) *account {
	return &account{base: base, user: u, hc: &http.Client{Timeout: 30 * time.Second}}
}

// credentials are a session as wrk sends it.
type credentials struct {
	token  string // the access token, also the cookie's value
	cookie string // the cookie's value as set
}

// headers are the request headers wrk sends: the session (a cookie or a
// bearer token, as auth says) and, for a browser-like request, what a
// browser sends along, including cookies of the app. "browser" is
// Firefox's navigation (eight headers with the cookie); "chrome" is
// Chromium's (fifteen, with its client hints and a referrer): how many
// headers a request has decides whether the maps reverse_proxy copies
// them into must grow, so the two can cost plain and mfa differently.
func (c credentials) headers(auth, request string) []string {
	browser := request == "browser" || request == "chrome"
	var h []string
	switch {
	case auth == "bearer":
		h = append(h, "Authorization: Bearer "+c.token)
	case browser:
		h = append(h, "Cookie: "+sessionCookie+"="+c.cookie+"; app_theme=dark; app_lang=en")
	default:
		h = append(h, "Cookie: "+sessionCookie+"="+c.cookie)
	}
	switch request {
	case "browser":
		h = append(h,
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"Accept-Language: en-US,en;q=0.5",
			"Accept-Encoding: gzip, deflate, br, zstd",
			"Sec-Fetch-Dest: document",
			"Sec-Fetch-Mode: navigate",
			"Sec-Fetch-Site: same-origin",
		)
	case "chrome":
		h = append(h,
			"Cache-Control: max-age=0",
			`Sec-Ch-Ua: "Chromium";v="142", "Not_A Brand";v="99"`,
			"Sec-Ch-Ua-Mobile: ?0",
			`Sec-Ch-Ua-Platform: "Linux"`,
			"Upgrade-Insecure-Requests: 1",
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
			"Sec-Fetch-Site: same-origin",
			"Sec-Fetch-Mode: navigate",
			"Sec-Fetch-User: ?1",
			"Sec-Fetch-Dest: document",
			"Referer: http://app.example.com/",
			"Accept-Encoding: gzip, deflate, br, zstd",
			"Accept-Language: en-US,en;q=0.9",
		)
	}
	return h
}

func (a *account) call(path string, body map[string]string) (int, map[string]any, *http.Response, error) {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(a.base, "/")+"/_mfa/api/v1/"+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil && len(raw) > 0 {
		return resp.StatusCode, nil, resp, fmt.Errorf("POST %s: %d, not JSON", path, resp.StatusCode)
	}
	return resp.StatusCode, m, resp, nil
}

// enroll signs in for the first time and enrolls an authenticator.
func (a *account) enroll() (credentials, error) {
	status, m, _, err := a.call("login", map[string]string{"username": a.user.name, "password": a.user.password})
	if err != nil {
		return credentials{}, err
	}
	if status != http.StatusAccepted || m["status"] != "enrollment_required" {
		return credentials{}, fmt.Errorf("login: %d %v, want 202 enrollment_required", status, m["status"])
	}
	mfaToken, _ := m["mfa_token"].(string)
	status, m, _, err = a.call("enroll/totp", map[string]string{"mfa_token": mfaToken})
	if err != nil || status != http.StatusOK {
		return credentials{}, fmt.Errorf("enroll/totp: %d %v", status, err)
	}
	secret, _ := m["secret"].(string)
	factorID, _ := m["factor_id"].(string)
	a.secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		return credentials{}, fmt.Errorf("enroll/totp: secret is not base32")
	}
	code, err := a.nextCode()
	if err != nil {
		return credentials{}, err
	}
	return a.finish("enroll/totp/confirm", map[string]string{"mfa_token": mfaToken, "factor_id": factorID, "code": code})
}

func (a *account) finish(path string, body map[string]string) (credentials, error) {
	status, m, resp, err := a.call(path, body)
	if err != nil {
		return credentials{}, err
	}
	if status != http.StatusOK || m["status"] != "authenticated" {
		return credentials{}, fmt.Errorf("%s: %d %v, want 200 authenticated", path, status, m["error"])
	}
	c := credentials{}
	c.token, _ = m["access_token"].(string)
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			c.cookie = ck.Value
		}
	}
	if c.token == "" || c.cookie == "" {
		return credentials{}, fmt.Errorf("%s: no access token or no session cookie", path)
	}
	return c, nil
}

// renew trades c for a freshly issued token of the same session through
// GET /session, the way a bearer client slides its idle limit. A fresh
// token keeps the next minute of requests from coming due for renewal,
// without a new sign-in (a password check and a new TOTP step).
func (a *account) renew(c credentials) (credentials, error) {
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(a.base, "/")+"/_mfa/api/v1/session", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
	resp, err := a.hc.Do(req)
	if err != nil {
		return credentials{}, err
	}
	defer resp.Body.Close()
	var m struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		return credentials{}, fmt.Errorf("GET /session: %d %v", resp.StatusCode, err)
	}
	next := credentials{token: m.AccessToken}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			next.cookie = ck.Value
		}
	}
	if next.token == "" || next.cookie == "" {
		return credentials{}, errors.New("GET /session: no access token or no session cookie")
	}
	return next, nil
}

// nextCode is a code for a time step not used yet: each is accepted once,
// and the server accepts the steps next to the current one. When those
// are used up it waits for the next step.
func (a *account) nextCode() (string, error) {
	p := totp.DefaultParams()
	for {
		cur := totp.Step(time.Now(), p)
		step := max(cur-1, a.lastStep+1)
		if step <= cur+1 {
			a.lastStep = step
			return totp.Code(a.secret, step, p), nil
		}
		time.Sleep(time.Second)
	}
}
