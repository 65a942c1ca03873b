package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Validator wraps go-playground/validator with JSON field names in errors.
type Validator struct {
	v *validator.Validate
}

// NewValidator returns a validator reporting fields by their JSON names.
func NewValidator() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name := strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
		if name == "-" {
			return ""
		}
		return name
	})
	v.RegisterStructValidation(questionRules, questionBody{})
	// A new password (register, teachers, new students) must not be a
	// common one (NIST SP 800-63B); logins check nothing of the kind.
	_ = v.RegisterValidation("new_password", func(fl validator.FieldLevel) bool {
		return auth.WeakPassword(fl.Field().String()) == ""
	})
	return &Validator{v: v}
}

// Struct validates s; a failure is a quiz validation error with fields.
func (v *Validator) Struct(s any) error {
	err := v.v.Struct(s)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validate: %w", err)
	}
	fields := make(map[string]string, len(verrs))
	for _, fe := range verrs {
		fields[fieldPath(fe.Namespace())] = describeTag(fe)
	}
	return quiz.Invalid(fields)
}

// fieldPath turns "createQuizRequest.questions[0].text" into "questions[0].text".
func fieldPath(ns string) string {
	if i := strings.IndexByte(ns, '.'); i >= 0 {
		return ns[i+1:]
	}
	return ns
}

func describeTag(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be a valid email"
	case "min":
		if fe.Kind() == reflect.String {
			return "must be at least " + fe.Param() + " characters"
		}
		if fe.Kind() == reflect.Slice {
			return "must have at least " + fe.Param() + " items"
		}
		return "must be at least " + fe.Param()
	case "max":
		if fe.Kind() == reflect.String {
			return "must be at most " + fe.Param() + " characters"
		}
		if fe.Kind() == reflect.Slice {
			return "must have at most " + fe.Param() + " items"
		}
		return "must be at most " + fe.Param()
	case "oneof":
		return "must be one of " + fe.Param()
	case "uuid", "uuid4":
		return "must be an id"
	case "new_password":
		if why := auth.WeakPassword(fe.Value().(string)); why != "" {
			return why
		}
		return "is not allowed"
	// The rules of question kinds (questionRules).
	case "option_index":
		return "must hold indexes (0-based) of this question's options"
	case "unique_index":
		return "must not name an option twice"
	case "one_correct":
		return "must hold exactly one option index"
	case "some_correct":
		return "must hold at least one option index"
	case "poll_correct":
		return "must be empty for a poll"
	case "poll_points":
		return "must be 0 for a poll"
	case "true_false":
		return `must be [{"text":"True"},{"text":"False"}] for a true_false question`
	default:
		return "is not valid (" + fe.Tag() + ")"
	}
}

// decodeStrict decodes exactly one JSON value from r into dst, refusing
// unknown fields and trailing data, and maps every failure to the contract:
// 400 invalid_json, 413 payload_too_large, 422 validation_failed.
func decodeStrict(r io.Reader, dst any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() {
			return quiz.Errorf(quiz.CodeInvalidJSON, "the body holds more than one JSON value")
		}
		if _, err := dec.Token(); err != io.EOF {
			return quiz.Errorf(quiz.CodeInvalidJSON, "unexpected data after the JSON body")
		}
		return nil
	}
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &maxErr):
		return &quiz.Error{Code: quiz.CodeTooLarge, Message: "the body is larger than 1 MiB"}
	case errors.Is(err, io.EOF):
		return quiz.Errorf(quiz.CodeInvalidJSON, "the body is empty; a JSON object is required")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return quiz.Errorf(quiz.CodeInvalidJSON, "the body must be a JSON object")
		}
		return quiz.Invalid(map[string]string{field: "must be " + jsonKind(typeErr.Type)})
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return quiz.Errorf(quiz.CodeInvalidJSON, "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return quiz.Invalid(map[string]string{name: "is not a known field"})
	default:
		return quiz.Errorf(quiz.CodeInvalidJSON, "the body is not valid JSON")
	}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// DecodeJSON decodes a strict JSON body into dst and validates it; it is
// what bind uses, exported for the fuzz test and the WebSocket protocol.
func DecodeJSON(v *Validator, body []byte, dst any) error {
	if err := decodeStrict(bytes.NewReader(body), dst); err != nil {
		return err
	}
	if err := cleanStrings(dst); err != nil {
		return err
	}
	return v.Struct(dst)
}

// bind decodes and validates the request body into dst. On failure it has
// written the error and returns false. A required body must be declared
// JSON (contentType has refused any other declared type).
func (s *Server) bind(c *gin.Context, dst any) bool {
	if c.GetHeader("Content-Type") == "" {
		WriteError(c, errUnsupportedMediaType)
		return false
	}
	if err := decodeStrict(c.Request.Body, dst); err != nil {
		WriteError(c, err)
		return false
	}
	if err := cleanStrings(dst); err != nil {
		WriteError(c, err)
		return false
	}
	if err := s.validate.Struct(dst); err != nil {
		WriteError(c, err)
		return false
	}
	return true
}

// cleanStrings walks a decoded request and, before validation, trims the
// string fields tagged `clean:"trim"` (names and titles: a value of only
// spaces is then empty, and "required" refuses it) and refuses any string
// holding a NUL character or invalid UTF-8, which PostgreSQL cannot store,
// naming the field.
func cleanStrings(dst any) error {
	fields := map[string]string{}
	cleanValue(reflect.ValueOf(dst), "", fields)
	if len(fields) > 0 {
		return quiz.Invalid(fields)
	}
	return nil
}

func cleanValue(v reflect.Value, path string, fields map[string]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			cleanValue(v.Elem(), path, fields)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
			if name == "" || name == "-" {
				name = f.Name
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.String && f.Tag.Get("clean") == "trim" && fv.CanSet() {
				fv.SetString(strings.TrimSpace(fv.String()))
			}
			cleanValue(fv, p, fields)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			cleanValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fields)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if k := iter.Key(); k.Kind() == reflect.String && badString(k.String()) {
				fields[path] = "must not contain NUL characters or invalid UTF-8"
			}
			cleanValue(iter.Value(), path+"."+fmt.Sprint(iter.Key().Interface()), fields)
		}
	case reflect.String:
		if badString(v.String()) {
			fields[path] = "must not contain NUL characters or invalid UTF-8"
		}
	}
}

// badString reports whether s cannot be stored as PostgreSQL text.
func badString(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}
