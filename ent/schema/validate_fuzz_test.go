package schema

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// hasControl reports whether s has a control character, which no stored
// address or link should: it could split a mail header or a log line.
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// FuzzValidateEmail checks that accepted addresses are plain
// local@domain, without blanks or control characters, and that
// normalizing is idempotent.
func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"amara@riverside-foodbank.example", "A@B.C", "a@b\r\nBcc: c@d", `"a b"@c.d`, "<a@b.c>", "Name <a@b.c>", "@", "a@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n := NormalizeEmail(s); NormalizeEmail(n) != n {
			t.Fatalf("NormalizeEmail is not idempotent on %q", s)
		}
		if validateEmail(s) != nil {
			return
		}
		if !strings.Contains(s, "@") || hasControl(s) || strings.ContainsAny(s, " <>") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzValidateURL checks that accepted links are http or https, with a
// host, and without control characters.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://example.org/try", "HTTP://x", "javascript:alert(1)", "https://", "//x", "https://a b", "http://x/\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validateURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || hasControl(s) {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzValidateTags checks that accepted tags are 1 to 40 bytes without
// surrounding blanks.
func FuzzValidateTags(f *testing.F) {
	for _, s := range []string{"inventory", "", " x", strings.Repeat("t", 41), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		if validateTags([]string{tag}) != nil {
			return
		}
		if tag == "" || len(tag) > maxTagLen || strings.TrimSpace(tag) != tag {
			t.Fatalf("accepted %q", tag)
		}
	})
}
