package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifest is one Kubernetes object read from a file or a kustomize build.
type manifest struct {
	// Source names the object for error messages: file#index or
	// build:Kind/name.
	Source string
	GVK    schema.GroupVersionKind
	// Obj is the typed object of a built-in kind; nil for a custom resource.
	Obj runtime.Object
	// Raw is the document as generic YAML (every kind).
	Raw map[string]any
}

// Name is the object's metadata.name.
func (m manifest) Name() string {
	md, _ := m.Raw["metadata"].(map[string]any)
	s, _ := md["name"].(string)
	return s
}

// Labels is the object's metadata.labels.
func (m manifest) Labels() map[string]string {
	md, _ := m.Raw["metadata"].(map[string]any)
	ls, _ := md["labels"].(map[string]any)
	out := map[string]string{}
	for k, v := range ls {
		out[k], _ = v.(string)
	}
	return out
}

// customKinds are the custom resources the manifests may use; each is
// validated as YAML against its required keys (crdRules) because its Go types
// are not imported.
var customKinds = map[schema.GroupKind]bool{
	{Group: "postgresql.cnpg.io", Kind: "Cluster"}:           true,
	{Group: "postgresql.cnpg.io", Kind: "ScheduledBackup"}:   true,
	{Group: "barmancloud.cnpg.io", Kind: "ObjectStore"}:      true,
	{Group: "rabbitmq.com", Kind: "RabbitmqCluster"}:         true,
	{Group: "monitoring.coreos.com", Kind: "PrometheusRule"}: true,
	{Group: "monitoring.coreos.com", Kind: "PodMonitor"}:     true,
}

// decoder decodes YAML strictly into the typed API objects.
type decoder struct {
	serializer *kjson.Serializer
}

func newDecoder() (*decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	// Strict: an unknown or duplicate field is an error, not a silent drop.
	s := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	return &decoder{serializer: s}, nil
}

// decodeDoc decodes one YAML document.
func (d *decoder) decodeDoc(source string, doc []byte) (manifest, error) {
	m := manifest{Source: source}
	if err := yaml.Unmarshal(doc, &m.Raw); err != nil {
		return m, fmt.Errorf("%s: %w", source, err)
	}
	obj, gvk, err := d.serializer.Decode(doc, nil, nil)
	switch {
	case err == nil:
		m.Obj, m.GVK = obj, *gvk
		return m, nil
	case runtime.IsNotRegisteredError(err) && gvk != nil && customKinds[gvk.GroupKind()]:
		m.GVK = *gvk
		return m, checkCustomResource(m)
	default:
		return m, fmt.Errorf("%s: %w", source, err)
	}
}

// decodeFile decodes every document of a multi-document YAML file.
func (d *decoder) decodeFile(path string) ([]manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []manifest
	var errs []error
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			errs = append(errs, fmt.Errorf("%s#%d: %w", path, i, err))
			continue
		}
		if len(probe) == 0 { // comments only
			continue
		}
		m, err := d.decodeDoc(fmt.Sprintf("%s#%d", path, i), doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// build runs kustomize on dir (as `kustomize build` does, on the real file
// system) and decodes every resource of the output.
func (d *decoder) build(dir string) ([]manifest, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []manifest
	var errs []error
	for _, r := range resMap.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		m, err := d.decodeDoc(fmt.Sprintf("build %s: %s/%s", dir, r.GetKind(), r.GetName()), doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// manifestFiles lists every YAML file under root except kustomization files
// (they are checked by building them) and testdata.
func manifestFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && e.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(path, ".yaml") && e.Name() != "kustomization.yaml" {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// kustomizations lists the directories under root that hold a
// kustomization.yaml.
func kustomizations(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && e.Name() == "testdata" {
			return filepath.SkipDir
		}
		if e.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	return dirs, err
}

// kustomizationResources returns the files a kustomization.yaml names in
// its resources list, relative to root.
func kustomizationResources(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	var out []string
	for _, r := range k.Resources {
		out = append(out, filepath.Clean(filepath.Join(dir, r)))
	}
	return out, nil
}

// lookup follows a dotted path (a.b.c; a number indexes a list) in a
// generic YAML value.
func lookup(v any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[key]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(key, &i); err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, v != nil
}
