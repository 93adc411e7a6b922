package caddymfa

import (
	"context"
	"mime"
	"net/http"
	"strings"
)

type accountAnswer struct {
	User      string        `json:"user"`
	Factors   []factorJSON  `json:"factors"`
	CodesLeft int           `json:"recovery_codes_left"`
	Devices   []deviceJSON  `json:"devices"`
	Sessions  []sessionJSON `json:"sessions"`
}

type deviceJSON struct {
	ID         string `json:"id"`
	Label      string `json:"label"`
	CreatedAt  int64  `json:"created_at"`
	LastUsedAt int64  `json:"last_used_at,omitempty"`
	ExpiresAt  int64  `json:"expires_at"`
}

type sessionJSON struct {
	ID        string   `json:"id"`
	CreatedAt int64    `json:"created_at"`
	ExpiresAt int64    `json:"expires_at"`
	AMR       []string `json:"amr,omitempty"`
	ClientIP  string   `json:"client_ip,omitempty"`
	UserAgent string   `json:"user_agent,omitempty"`
	Current   bool     `json:"current"`
}

// serveAccountAPI answers /api/v1/account[/…] for the session's user:
//
//	GET    account                     factors, codes left, devices, sessions
//	POST   account/recovery_codes      new codes (fresh second factor needed)
//	DELETE account/factors/{id}        remove a factor (fresh second factor needed)
//	DELETE account/devices/{id}        forget a trusted device
//	DELETE account/sessions/{id}       end a session
//	POST   account/logout_everywhere   end every session
func (h *Handler) serveAccountAPI(w http.ResponseWriter, r *http.Request, route string) error {
	s, _, err := h.accountSession(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	parts := strings.Split(route, "/")
	method := func(m string) error {
		if r.Method != m {
			return methodNotAllowed(m)
		}
		return nil
	}
	switch {
	case route == "":
		if err := method(http.MethodGet); err != nil {
			return err
		}
		return h.writeAccount(w, ctx, s)
	case route == "recovery_codes":
		if err := method(http.MethodPost); err != nil {
			return err
		}
		if err := h.readNoParams(w, r); err != nil {
			return err
		}
		codes, err := h.regenerateCodes(ctx, r, s)
		if err != nil {
			return err
		}
		return h.writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	case route == "logout_everywhere":
		if err := method(http.MethodPost); err != nil {
			return err
		}
		if err := h.readNoParams(w, r); err != nil {
			return err
		}
		if err := h.signOutEverywhere(ctx, r, s); err != nil {
			return err
		}
		h.clearCookies(w)
		return h.noContent(w)
	case len(parts) == 2 && parts[1] != "":
		if err := method(http.MethodDelete); err != nil {
			return err
		}
		switch parts[0] {
		case "factors":
			err = h.removeFactor(ctx, r, s, parts[1])
		case "devices":
			err = h.revokeDevice(ctx, r, s.User, parts[1])
		case "sessions":
			err = h.revokeOwnSession(ctx, r, s, parts[1])
		default:
			err = errNotFound
		}
		if err != nil {
			return err
		}
		return h.noContent(w)
	}
	return errNotFound
}

// readNoParams reads the body of a POST that takes no parameters: none at
// all, or an empty JSON object, under the rules of every JSON call.
func (h *Handler) readNoParams(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength == 0 {
		ct := r.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if ct == "" || err == nil && mt == "application/json" {
			return nil
		}
	}
	var none struct{}
	return h.readJSON(w, r, &none)
}

func (h *Handler) noContent(w http.ResponseWriter) error {
	pageHeaders(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) writeAccount(w http.ResponseWriter, ctx context.Context, s session) error {
	st, err := h.accountState(ctx, s.User)
	if err != nil {
		return err
	}
	ans := accountAnswer{User: s.User, CodesLeft: st.CodesLeft, Factors: []factorJSON{}, Devices: []deviceJSON{}, Sessions: []sessionJSON{}}
	for _, f := range st.Factors {
		ans.Factors = append(ans.Factors, factorJSON{ID: f.ID, Type: f.Type, Label: f.Label})
	}
	for _, d := range st.Devices {
		dj := deviceJSON{ID: d.ID, Label: d.Label, CreatedAt: d.CreatedAt.Unix(), ExpiresAt: d.ExpiresAt.Unix()}
		if !d.LastUsedAt.IsZero() {
			dj.LastUsedAt = d.LastUsedAt.Unix()
		}
		ans.Devices = append(ans.Devices, dj)
	}
	for _, o := range st.Sessions {
		ans.Sessions = append(ans.Sessions, sessionJSON{ID: o.ID, CreatedAt: o.CreatedAt.Unix(), ExpiresAt: o.ExpiresAt.Unix(),
			AMR: o.AMR, ClientIP: o.ClientIP, UserAgent: o.UserAgent, Current: o.ID == s.SID})
	}
	return h.writeJSON(w, http.StatusOK, ans)
}
