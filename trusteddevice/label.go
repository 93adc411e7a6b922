package trusteddevice

import "strings"

// Label names a device from its User-Agent for people, e.g. "Firefox on
// Windows"; unknown parts read "Browser" and "unknown system".
func Label(userAgent string) string {
	ua := strings.ToLower(userAgent)
	browser := "Browser"
	for _, b := range []struct{ token, name string }{
		{"edg/", "Edge"}, {"opr/", "Opera"}, {"firefox/", "Firefox"}, {"chromium/", "Chromium"},
		{"chrome/", "Chrome"}, {"safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := "unknown system"
	for _, s := range []struct{ token, name string }{
		{"iphone", "iPhone"}, {"ipad", "iPad"}, {"android", "Android"}, {"windows", "Windows"},
		{"mac os x", "macOS"}, {"cros", "ChromeOS"}, {"linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if browser == "Browser" && system == "unknown system" {
		return "Unknown device"
	}
	return browser + " on " + system
}
