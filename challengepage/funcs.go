package challengepage

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
)

const defaultDigits = 6

// funcMap is what the templates may call besides the view's fields; it is
// built per Renderer because brand, styles and script depend on Options.
func funcMap(b brand, css template.CSS, js template.JS) template.FuncMap {
	return template.FuncMap{
		"brand":     func() brand { return b },
		"pageTitle": b.pageTitle,
		"styles":    func() template.CSS { return css },
		"script":    func() template.JS { return js },
		"plural":    plural,
		"digits":    digits,
		// Room for the spaces people type or paste ("123 456"); the handler
		// strips them and checks the length itself.
		"codeMaxLen":  func(n int) int { return 2 * digits(n) },
		"groupSecret": groupSecret,
		"retryIn":     retryIn,
		"textFileURL": func(codes []string) template.URL { return textFileURL(b, codes) },
	}
}

// plural writes a count with its noun: "1 day", "3 days".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func digits(n int) int {
	if n <= 0 {
		return defaultDigits
	}
	return n
}

// groupSecret splits a base32 secret into blocks of 4 for typing by hand.
func groupSecret(s string) string {
	s = strings.Join(strings.Fields(s), "")
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// retryIn rounds a wait up to one unit, so users are never told to come back
// before the lock ends: 290 s is "5 minutes", 3601 s "2 hours".
func retryIn(seconds int) string {
	up := func(n, unit int) int { return (n + unit - 1) / unit }
	switch {
	case seconds <= 0:
		return "a moment"
	case seconds < 60:
		return plural(seconds, "second")
	case seconds < 60*60:
		return plural(up(seconds, 60), "minute")
	case seconds < 48*60*60:
		return plural(up(seconds, 60*60), "hour")
	default:
		return plural(up(seconds, 24*60*60), "day")
	}
}

// textFileURL is a data: URL of the recovery codes as a text file, so the
// download link works without JavaScript.
func textFileURL(br brand, codes []string) template.URL {
	var b strings.Builder
	b.WriteString("Recovery codes")
	if br.Named {
		b.WriteString(" for " + br.Title)
	}
	b.WriteString("\n")
	b.WriteString("Each code signs you in once. Keep them somewhere safe.\n\n")
	for _, c := range codes {
		b.WriteString(c + "\n")
	}
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(b.String()))
}
