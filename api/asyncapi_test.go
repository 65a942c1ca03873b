package api

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// How a message travels, as far as the description must say.
type role int

const (
	first     role = iota // welcome: the first frame, direct, no id
	broadcast             // with seq, to everyone
	reply                 // direct, echoes the client's id
	direct                // direct, no id (result)
	teacher               // teacher only, no id
	command               // client → server
)

// message is what the test knows of one wire type: how it travels and the
// Go type of its data (nil: data is not decoded by the server).
type message struct {
	role role
	data reflect.Type
}

var empty = reflect.TypeFor[struct{}]()

// messages lists every message type constant of internal/protocol. The
// test also parses protocol.go, so a constant added there without a line
// here (and a message in asyncapi.yaml) fails.
var messages = map[string]message{
	protocol.TypeWelcome:        {first, reflect.TypeFor[protocol.Welcome]()},
	protocol.TypeSessionStarted: {broadcast, reflect.TypeFor[protocol.SessionStarted]()},
	protocol.TypeQuestionOpened: {broadcast, reflect.TypeFor[protocol.QuestionOpened]()},
	protocol.TypeQuestionClosed: {broadcast, reflect.TypeFor[protocol.QuestionClosed]()},
	protocol.TypeLeaderboard:    {broadcast, reflect.TypeFor[protocol.Leaderboard]()},
	protocol.TypeSessionEnded:   {broadcast, reflect.TypeFor[protocol.SessionEnded]()},
	protocol.TypeAnswerAccepted: {reply, reflect.TypeFor[protocol.AnswerAccepted]()},
	protocol.TypeAnswerRejected: {reply, reflect.TypeFor[protocol.AnswerRejected]()},
	protocol.TypeResult:         {direct, reflect.TypeFor[protocol.Result]()},
	protocol.TypeError:          {reply, reflect.TypeFor[protocol.Error]()},
	protocol.TypePong:           {reply, empty},
	protocol.TypeAnswerProgress: {teacher, reflect.TypeFor[protocol.Progress]()},
	protocol.TypeParticipants:   {teacher, reflect.TypeFor[protocol.Participants]()},
	protocol.TypeClientAnswer:   {command, reflect.TypeFor[protocol.AnswerCommand]()},
	protocol.TypeClientStart:    {command, empty},
	protocol.TypeClientNext:     {command, empty},
	protocol.TypeClientClose:    {command, empty},
	protocol.TypeClientEnd:      {command, empty},
	protocol.TypeClientKick:     {command, reflect.TypeFor[protocol.KickCommand]()},
	protocol.TypeClientPing:     {command, nil},
}

// protocolTypes parses internal/protocol for its Type* constants: name →
// wire type.
func protocolTypes(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir("../internal/protocol")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, "../internal/protocol/"+e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Type") || !name.IsExported() || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("protocol.%s is not a string literal", name.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[name.Name] = v
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no Type constants found in internal/protocol")
	}
	return out
}

// doc is the parsed AsyncAPI document with $ref resolution.
type doc struct {
	root map[string]any
}

func loadDoc(t *testing.T) doc {
	t.Helper()
	raw, err := os.ReadFile("asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	return doc{root: root}
}

// pointer follows a local JSON pointer such as #/components/schemas/Seq.
func (d doc) pointer(ref string) (any, error) {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("only local references are used: %q", ref)
	}
	var cur any = d.root
	for _, part := range strings.Split(path, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not inside an object", ref, part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("%s: no %q", ref, part)
		}
	}
	return cur, nil
}

// resolve follows $ref until it reaches an object without one.
func (d doc) resolve(t *testing.T, v any) map[string]any {
	t.Helper()
	for range 20 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("expected an object, got %T", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		next, err := d.pointer(ref)
		if err != nil {
			t.Fatalf("dangling reference: %v", err)
		}
		v = next
	}
	t.Fatal("reference loop")
	return nil
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func sortedKeys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }

func TestAsyncAPIMessagesMatchProtocol(t *testing.T) {
	consts := protocolTypes(t)
	// The test's table and the package agree.
	var fromCode []string
	for name, v := range consts {
		if _, ok := messages[v]; !ok {
			t.Errorf("protocol.%s = %q is not in this test's table (nor, probably, in asyncapi.yaml)", name, v)
		}
		fromCode = append(fromCode, v)
	}
	if len(consts) != len(messages) {
		t.Errorf("internal/protocol has %d Type constants, this test knows %d", len(consts), len(messages))
	}
	sort.Strings(fromCode)

	d := loadDoc(t)
	if v := d.root["asyncapi"]; v != "3.0.0" {
		t.Fatalf("asyncapi = %v, want 3.0.0", v)
	}
	comps := obj(obj(d.root["components"])["messages"])
	if got := sortedKeys(comps); !slices.Equal(got, fromCode) {
		t.Fatalf("components.messages = %v\nprotocol types      = %v", got, fromCode)
	}
	channel := obj(obj(d.root["channels"])["session"])
	if channel == nil {
		t.Fatal("no channel session")
	}
	chMsgs := obj(channel["messages"])
	if got := sortedKeys(chMsgs); !slices.Equal(got, fromCode) {
		t.Fatalf("channels.session.messages = %v, want %v", got, fromCode)
	}
	for typ, info := range messages {
		t.Run(typ, func(t *testing.T) {
			if ref := obj(chMsgs[typ])["$ref"]; ref != "#/components/messages/"+typ {
				t.Errorf("channel message %s refers to %v", typ, ref)
			}
			m := obj(comps[typ])
			if m["name"] != typ {
				t.Errorf("message %s has name %v", typ, m["name"])
			}
			payload := d.resolve(t, m["payload"])
			props := obj(payload["properties"])
			if c := obj(props["type"])["const"]; c != typ {
				t.Errorf("payload type const = %v, want %q", c, typ)
			}
			required := stringSet(payload["required"])
			_, hasSeq := props["seq"]
			if want := info.role == broadcast; hasSeq != want || required["seq"] != want {
				t.Errorf("seq: property %v, required %v; want both %v (broadcasts only)", hasSeq, required["seq"], want)
			}
			_, hasID := props["id"]
			if want := info.role == reply || info.role == command; hasID != want {
				t.Errorf("id property present = %v, want %v", hasID, want)
			}
			if info.data == nil {
				return
			}
			schema := d.resolve(t, props["data"])
			if oneOf, ok := schema["oneOf"].([]any); ok {
				// Commands accept null or {}: compare with the object.
				for _, alt := range oneOf {
					if a := d.resolve(t, alt); typeSet(a)["object"] {
						schema = a
					}
				}
			}
			compareSchema(t, d, "data", schema, info.data)
		})
	}
}

func TestAsyncAPIOperations(t *testing.T) {
	d := loadDoc(t)
	sent, received := map[string]int{}, map[string]int{}
	for name, v := range obj(d.root["operations"]) {
		op := obj(v)
		if ref := obj(op["channel"])["$ref"]; ref != "#/channels/session" {
			t.Errorf("operation %s: channel %v", name, ref)
		}
		var into map[string]int
		switch op["action"] {
		case "send":
			into = sent
		case "receive":
			into = received
		default:
			t.Fatalf("operation %s: action %v", name, op["action"])
		}
		for _, m := range op["messages"].([]any) {
			ref, _ := obj(m)["$ref"].(string)
			typ, ok := strings.CutPrefix(ref, "#/channels/session/messages/")
			if !ok {
				t.Fatalf("operation %s: message %q is not a message of the channel", name, ref)
			}
			if _, err := d.pointer(ref); err != nil {
				t.Fatal(err)
			}
			into[typ]++
		}
		if r := obj(op["reply"]); r != nil {
			for _, m := range r["messages"].([]any) {
				ref, _ := obj(m)["$ref"].(string)
				if _, err := d.pointer(ref); err != nil {
					t.Fatalf("operation %s reply: %v", name, err)
				}
			}
		}
	}
	for typ, info := range messages {
		want := map[bool]int{true: 1, false: 0}
		if got := sent[typ]; got != want[info.role != command] {
			t.Errorf("%s is in %d send operations, want %d", typ, got, want[info.role != command])
		}
		if got := received[typ]; got != want[info.role == command] {
			t.Errorf("%s is in %d receive operations, want %d", typ, got, want[info.role == command])
		}
	}
}

// compareSchema checks that schema describes the JSON encoding of typ:
// the same properties, required exactly when not omitempty, and the same
// kinds of values, recursively.
func compareSchema(t *testing.T, d doc, path string, schema map[string]any, typ reflect.Type) {
	t.Helper()
	types := typeSet(schema)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
		delete(types, "null")
	}
	want := func(kind string) {
		t.Helper()
		if len(types) != 1 || !types[kind] {
			t.Errorf("%s: schema type %v, want %s for Go %s", path, sortedKeys(types), kind, typ)
		}
	}
	switch {
	case typ == reflect.TypeFor[quiz.Time]():
		want("string")
		if schema["format"] != "date-time" {
			t.Errorf("%s: a timestamp needs format date-time", path)
		}
	case typ == reflect.TypeFor[json.RawMessage]():
	case typ.Kind() == reflect.Struct:
		want("object")
		if schema["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties must be false (the server sends exactly these fields)", path)
		}
		fields := jsonFields(typ)
		props := obj(schema["properties"])
		if got, wantKeys := sortedKeys(props), sortedKeys(fields); !slices.Equal(got, wantKeys) {
			t.Errorf("%s: properties %v, Go %s has %v", path, got, typ, wantKeys)
		}
		required := stringSet(schema["required"])
		for name, f := range fields {
			if required[name] == f.omitempty {
				t.Errorf("%s.%s: required = %v, but omitempty = %v", path, name, required[name], f.omitempty)
			}
			if p, ok := props[name]; ok {
				compareSchema(t, d, path+"."+name, d.resolve(t, p), f.typ)
			}
		}
	case typ.Kind() == reflect.Slice:
		want("array")
		compareSchema(t, d, path+"[]", d.resolve(t, schema["items"]), typ.Elem())
	case typ.Kind() == reflect.Map:
		want("object")
		compareSchema(t, d, path+"{}", d.resolve(t, schema["additionalProperties"]), typ.Elem())
	case typ.Kind() == reflect.String:
		want("string")
	case typ.Kind() == reflect.Bool:
		want("boolean")
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want("integer")
	default:
		t.Errorf("%s: no rule for Go %s", path, typ)
	}
}

type field struct {
	typ       reflect.Type
	omitempty bool
}

// jsonFields returns the JSON fields of a struct, embedded ones flattened.
func jsonFields(typ reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			maps.Copy(out, jsonFields(f.Type))
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = field{typ: f.Type, omitempty: strings.Contains(","+opts+",", ",omitempty,")}
	}
	return out
}

func typeSet(schema map[string]any) map[string]bool {
	out := map[string]bool{}
	switch v := schema["type"].(type) {
	case string:
		out[v] = true
	case []any:
		for _, s := range v {
			out[fmt.Sprint(s)] = true
		}
	}
	return out
}

func stringSet(v any) map[string]bool {
	out := map[string]bool{}
	list, _ := v.([]any)
	for _, s := range list {
		out[fmt.Sprint(s)] = true
	}
	return out
}

// TestAsyncAPIEnums checks the enums against the domain's values.
func TestAsyncAPIEnums(t *testing.T) {
	d := loadDoc(t)
	schemas := obj(obj(d.root["components"])["schemas"])
	cases := map[string][]string{
		"Kind":  {string(quiz.KindSingle), string(quiz.KindMulti), string(quiz.KindTrueFalse), string(quiz.KindPoll)},
		"State": {string(quiz.StateLobby), string(quiz.StateRunning), string(quiz.StateEnded)},
	}
	for name, want := range cases {
		got := stringSet(obj(schemas[name])["enum"])
		if !slices.Equal(sortedKeys(got), slices.Sorted(slices.Values(want))) {
			t.Errorf("schema %s enum %v, want %v", name, sortedKeys(got), want)
		}
	}
	codes := stringSet(obj(obj(obj(schemas["AnswerRejected"])["properties"])["code"])["enum"])
	for _, c := range []quiz.Code{quiz.CodeNotOpen, quiz.CodeClosed, quiz.CodeAlreadyAnswered, quiz.CodeInvalidChoice} {
		if !codes[string(c)] {
			t.Errorf("answer.rejected code %s is missing from the enum", c)
		}
	}
}

// invalidExampleType is the unknown type the example sends on purpose.
const invalidExampleType = "dance"

// exampleLine is a frame of docs/protocol.md's example: "T ← {…}".
var exampleLine = regexp.MustCompile(`^([A-Za-z, ]+) (←|→) (\{.*\})$`)

// TestProtocolExampleMatchesAsyncAPI validates every complete frame of the
// example exchange in docs/protocol.md against its message's payload
// schema, so the prose, the description and the code tell one story.
func TestProtocolExampleMatchesAsyncAPI(t *testing.T) {
	raw, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	d := loadDoc(t)
	comps := obj(obj(d.root["components"])["messages"])
	seen := map[string]bool{}
	n := 0
	for i, line := range strings.Split(string(raw), "\n") {
		m := exampleLine.FindStringSubmatch(line)
		if m == nil || strings.Contains(line, "…") {
			continue
		}
		var frame map[string]any
		if err := json.Unmarshal([]byte(m[3]), &frame); err != nil {
			t.Errorf("protocol.md:%d: not JSON: %v", i+1, err)
			continue
		}
		typ, _ := frame["type"].(string)
		if typ == invalidExampleType && m[2] == "→" {
			continue
		}
		info, ok := messages[typ]
		if !ok {
			t.Errorf("protocol.md:%d: unknown type %q", i+1, typ)
			continue
		}
		if toServer := m[2] == "→"; toServer != (info.role == command) {
			t.Errorf("protocol.md:%d: %s goes the wrong way (%s)", i+1, typ, m[2])
		}
		if err := validate(d, d.resolve(t, obj(comps[typ])["payload"]), frame, "frame"); err != nil {
			t.Errorf("protocol.md:%d: %s: %v", i+1, typ, err)
		}
		seen[typ] = true
		n++
	}
	if n < 20 {
		t.Fatalf("only %d example frames found in docs/protocol.md", n)
	}
	for _, typ := range []string{protocol.TypeWelcome, protocol.TypeSessionStarted, protocol.TypeQuestionOpened,
		protocol.TypeQuestionClosed, protocol.TypeLeaderboard, protocol.TypeSessionEnded, protocol.TypeAnswerAccepted,
		protocol.TypeAnswerRejected, protocol.TypeResult, protocol.TypeAnswerProgress, protocol.TypeParticipants,
		protocol.TypeClientAnswer, protocol.TypeClientStart, protocol.TypeClientNext, protocol.TypeClientClose, protocol.TypeClientEnd} {
		if !seen[typ] {
			t.Errorf("the example in docs/protocol.md shows no %s", typ)
		}
	}
}

// validate checks v against the subset of JSON Schema that asyncapi.yaml
// uses.
func validate(d doc, s map[string]any, v any, path string) error {
	if ref, ok := s["$ref"].(string); ok {
		target, err := d.pointer(ref)
		if err != nil {
			return err
		}
		return validate(d, obj(target), v, path)
	}
	if alts, ok := s["oneOf"].([]any); ok {
		matched := 0
		for _, a := range alts {
			if validate(d, obj(a), v, path) == nil {
				matched++
			}
		}
		if matched != 1 {
			return fmt.Errorf("%s: %d of oneOf match", path, matched)
		}
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, v) {
		return fmt.Errorf("%s: %v, want %v", path, v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, v) }) {
		return fmt.Errorf("%s: %v not in %v", path, v, e)
	}
	if types := typeSet(s); len(types) > 0 && !types[jsonType(v)] && !(types["number"] && jsonType(v) == "integer") {
		return fmt.Errorf("%s: a %s, want %v", path, jsonType(v), sortedKeys(types))
	}
	if p, ok := s["pattern"].(string); ok {
		if str, _ := v.(string); !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
	}
	if min, ok := s["minimum"].(float64); ok {
		if f, _ := v.(float64); f < min {
			return fmt.Errorf("%s: %v < %v", path, f, min)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props := obj(s["properties"])
		for name := range stringSet(s["required"]) {
			if _, ok := x[name]; !ok {
				return fmt.Errorf("%s: %s is required", path, name)
			}
		}
		for name, val := range x {
			ps, ok := props[name]
			switch {
			case ok:
				if err := validate(d, obj(ps), val, path+"."+name); err != nil {
					return err
				}
			case s["additionalProperties"] == false:
				return fmt.Errorf("%s: unexpected %s", path, name)
			case obj(s["additionalProperties"]) != nil:
				if err := validate(d, obj(s["additionalProperties"]), val, path+"."+name); err != nil {
					return err
				}
			}
		}
	case []any:
		if max, ok := s["maxItems"].(float64); ok && float64(len(x)) > max {
			return fmt.Errorf("%s: %d items, at most %v", path, len(x), max)
		}
		if items := obj(s["items"]); items != nil {
			for i, e := range x {
				if err := validate(d, items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
