package main

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
)

// serve starts an HTTP server on a free loopback port and returns its
// address.
func serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(l, h)
	return l.Addr().String(), nil
}

// upstream is the legacy app: a fixed answer of n bytes.
func upstream(n int) http.Handler {
	body := bytes.Repeat([]byte("x"), n)
	size := strconv.Itoa(n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/html; charset=utf-8"}
		w.Header()["Content-Length"] = []string{size}
		w.Write(body)
	})
}

// authEndpoint is the least a forward_auth target can do: say yes and
// name the user with the same four headers the mfa site sends, without
// looking at anything.
func authEndpoint() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Remote-User"] = []string{"bench"}
		h["Remote-Email"] = []string{benchEmail}
		h["Remote-Name"] = []string{benchName}
		h["Remote-Groups"] = []string{benchGroups}
		w.WriteHeader(http.StatusOK)
	})
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
