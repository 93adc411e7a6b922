package totp

import (
	"net/url"
	"strconv"
	"strings"
)

// URI returns the otpauth:// key URI that authenticator apps read from a QR
// code, in the Key Uri Format of Google Authenticator:
//
//	otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
//
// An empty issuer leaves out the prefix and the parameter.
func URI(issuer, account string, secret []byte, p Params) string {
	p = p.withDefaults()
	label := escapeLabel(account)
	query := "secret=" + EncodeSecret(secret)
	if issuer != "" {
		label = escapeLabel(issuer) + ":" + label
		query += "&issuer=" + escapeQuery(issuer)
	}
	query += "&algorithm=" + p.Algorithm.String() +
		"&digits=" + strconv.Itoa(p.Digits) +
		"&period=" + strconv.FormatInt(p.periodSeconds(), 10)
	return "otpauth://totp/" + label + "?" + query
}

// escapeLabel escapes a label part; a colon inside the issuer or account
// would otherwise move the split between them.
func escapeLabel(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// escapeQuery writes spaces as %20: several apps show a "+" literally.
func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
