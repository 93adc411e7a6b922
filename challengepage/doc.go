// Package challengepage renders the pages end users see in front of a
// protected site: sign-in, the second-factor challenge, authenticator
// enrollment, recovery codes, sign-out and short messages.
//
// It knows no storage and no routing. The caller fills one of the view types
// (LoginView, ChallengeView, …) and calls Renderer.Render; status codes and
// headers, including the Content-Security-Policy whose nonce the view
// carries, are the caller's business.
//
// Each page is a single request: the CSS and JS from Assets are inlined with
// the view's nonce, nothing is loaded from elsewhere, and every page works
// with JavaScript disabled.
//
// Operators restyle the pages with Branding (title, logo, accent colour), or
// replace them through Options.TemplateDir:
//
//	templates/
//	  layout.html          the page frame; pages fill its "title" and "content"
//	  login.html           any embedded page, same file name, replaces it
//	  assets/style.css     replaces the built-in CSS (inlined and served)
//	  assets/logo.png      extra files, served with the built-in assets
//
// Templates may call brand, pageTitle, plural, groupSecret, retryIn, digits,
// codeMaxLen and textFileURL (see funcs.go) besides the view's fields.
package challengepage
