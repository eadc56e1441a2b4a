package graph

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/protoloop/protoloop/ent/participant"
	_ "github.com/protoloop/protoloop/ent/runtime" // the schema's validators
	"github.com/protoloop/protoloop/ent/schema"
)

// requireBadInput fails t unless err is a BAD_USER_INPUT naming one of
// the fields.
func requireBadInput(t *testing.T, err error, fields ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadUserInput || !slices.Contains(fields, e.Field) {
		t.Fatalf("got %#v, want BAD_USER_INPUT on one of %v", err, fields)
	}
}

// FuzzValidateFeedback checks that leaveFeedback's input checks refuse
// with a coded error naming the field, and accept only what the schema
// documents: a body of 1 to 10,000 characters, a rating of 1 to 5, 0 to
// 480 minutes, a key of 1 to 128 characters.
func FuzzValidateFeedback(f *testing.F) {
	f.Add("It works", 5, 10, "key", true, true, true)
	f.Add("", 0, -1, "", true, true, true)
	f.Add(strings.Repeat("é", maxBodyChars), 1, 480, strings.Repeat("k", 128), false, false, false)
	f.Add(strings.Repeat("x", maxBodyChars+1), 6, 481, strings.Repeat("k", 129), true, true, true)
	f.Fuzz(func(t *testing.T, body string, rating, minutes int, key string, hasRating, hasMinutes, hasKey bool) {
		in := LeaveFeedbackInput{Body: body}
		if hasRating {
			in.Rating = &rating
		}
		if hasMinutes {
			in.MinutesSavedPerDay = &minutes
		}
		if hasKey {
			in.IdempotencyKey = &key
		}
		ok := body != "" && utf8.RuneCountInString(body) <= maxBodyChars &&
			(!hasRating || 1 <= rating && rating <= 5) &&
			(!hasMinutes || 0 <= minutes && minutes <= maxMinutesSaved) &&
			(!hasKey || key != "" && utf8.RuneCountInString(key) <= maxIdempotencyKey)
		err := validateFeedback(in)
		switch {
		case ok && err != nil:
			t.Fatalf("refused valid input: %v", err)
		case !ok && err == nil:
			t.Fatalf("accepted %+v", in)
		case err != nil:
			requireBadInput(t, err, "body", "rating", "minutesSavedPerDay", "idempotencyKey")
		}
	})
}

// FuzzCheckRedeem checks the name and email a guest gives: what it
// accepts is stored trimmed, lowercased and valid, and checking it again
// changes nothing.
func FuzzCheckRedeem(f *testing.F) {
	f.Add("Sam", "Sam@Example.org ", true)
	f.Add("  ", "", true)
	f.Add("Sam", "not an address", true)
	f.Add(strings.Repeat("n", maxDisplayName+1), "", false)
	f.Add("Sam", `"quoted"@example.org`, true)
	f.Add("Sam", "a@b\r\nBcc: x@y", true)
	f.Fuzz(func(t *testing.T, name, email string, hasEmail bool) {
		in := RedeemInviteInput{DisplayName: name}
		if hasEmail {
			in.Email = &email
		}
		gotName, gotEmail, err := checkRedeem(in)
		if err != nil {
			requireBadInput(t, err, "displayName", "email")
			return
		}
		if gotName == "" || gotName != strings.TrimSpace(gotName) || utf8.RuneCountInString(gotName) > maxDisplayName {
			t.Fatalf("accepted the name %q", gotName)
		}
		if gotEmail != nil {
			e := *gotEmail
			if e != schema.NormalizeEmail(e) || participant.EmailValidator(e) != nil || strings.ContainsAny(e, "\r\n\t ") {
				t.Fatalf("accepted the email %q as %q", email, e)
			}
		}
		again, againEmail, err := checkRedeem(RedeemInviteInput{DisplayName: gotName, Email: gotEmail})
		if err != nil || again != gotName || (againEmail == nil) != (gotEmail == nil) || gotEmail != nil && *againEmail != *gotEmail {
			t.Fatalf("checking %q, %v again gave %q, %v, %v", gotName, gotEmail, again, againEmail, err)
		}
	})
}
