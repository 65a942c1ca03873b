package k8s

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Component labels of the application's pods.
const (
	componentLabel = "app.kubernetes.io/component"
	phaseLabel     = "quizcast.io/phase"
	clientNSLabel  = "quizcast.io/datastore-client"
)

// Minimums the deployment promises (docs/deployment.md).
const (
	minServerReplicas = 3
	minWorkerReplicas = 2
	// defaultShutdownTimeout is internal/config's SHUTDOWN_TIMEOUT default.
	defaultShutdownTimeout = 25 * time.Second
	// wsTimeoutSeconds is the least proxy read/send timeout for WebSockets.
	wsTimeoutSeconds = 3600
)

// dataStorePorts are the client ports of PostgreSQL, Redis and RabbitMQ:
// only the application's pods (and the store's own) may reach them.
var dataStorePorts = map[int32]string{5432: "PostgreSQL", 6379: "Redis", 5672: "RabbitMQ"}

// problems collects what a check found.
type problems []string

func (p *problems) addf(source, format string, args ...any) {
	*p = append(*p, source+": "+fmt.Sprintf(format, args...))
}

// checkObjects applies the per-object rules to a set of manifests (a file,
// a kustomize build). The set is needed for the rules that look one object
// up from another: the ConfigMap holding SHUTDOWN_TIMEOUT, the Deployment a
// Service, HPA or PDB points at.
func checkObjects(set []manifest) problems {
	var p problems
	for _, m := range set {
		switch o := m.Obj.(type) {
		case *appsv1.Deployment:
			checkPodTemplate(&p, m.Source, &o.Spec.Template, true)
			checkDeployment(&p, m.Source, o, set)
		case *appsv1.StatefulSet:
			checkPodTemplate(&p, m.Source, &o.Spec.Template, true)
		case *appsv1.DaemonSet:
			checkPodTemplate(&p, m.Source, &o.Spec.Template, true)
		case *batchv1.Job:
			checkPodTemplate(&p, m.Source, &o.Spec.Template, false)
			checkJob(&p, m.Source, o)
		case *corev1.Pod:
			p.addf(m.Source, "bare Pod: use a Deployment, StatefulSet or Job")
		case *corev1.Service:
			if len(o.Spec.Selector) > 0 && !selectsPods(set, labels.SelectorFromSet(o.Spec.Selector)) {
				p.addf(m.Source, "selector %v matches no pod template in this set", o.Spec.Selector)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			checkHPA(&p, m.Source, o, set)
		case *policyv1.PodDisruptionBudget:
			sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
			if err != nil || o.Spec.Selector == nil || sel.Empty() {
				p.addf(m.Source, "PodDisruptionBudget needs a non-empty selector")
			} else if !selectsPods(set, sel) {
				p.addf(m.Source, "selector %s matches no pod template in this set", sel)
			}
		case *networkingv1.Ingress:
			checkIngress(&p, m.Source, o, set)
		case *networkingv1.NetworkPolicy:
			checkNetworkPolicy(&p, m.Source, o)
		case *corev1.Secret:
			p.addf(m.Source, "Secret in a manifest set: secrets are created from the *.template.yaml files, never committed")
		}
	}
	return p
}

// checkPodTemplate holds the rules of every pod: pinned images, requests and
// limits, a restricted security context, and probes for long-running pods.
func checkPodTemplate(p *problems, src string, t *corev1.PodTemplateSpec, longRunning bool) {
	spec := &t.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		p.addf(src, "automountServiceAccountToken must be false (no pod here talks to the API server)")
	}
	for _, c := range spec.InitContainers {
		checkContainer(p, src, spec, &c, false)
	}
	for _, c := range spec.Containers {
		checkContainer(p, src, spec, &c, longRunning)
	}
}

func checkContainer(p *problems, src string, spec *corev1.PodSpec, c *corev1.Container, longRunning bool) {
	src = src + " container " + c.Name
	if err := checkImage(c.Image); err != nil {
		p.addf(src, "%v", err)
	}
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := kind.list[r]; !ok || q.IsZero() {
				p.addf(src, "missing resource %s.%s", kind.name, r)
			}
		}
	}
	if req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory(); !req.IsZero() && !lim.IsZero() && req.Cmp(*lim) > 0 {
		p.addf(src, "memory request %s above its limit %s", req, lim)
	}

	// Security: the container's context overrides the pod's.
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	nonRoot := psc.RunAsNonRoot
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		p.addf(src, "securityContext.runAsNonRoot must be true")
	}
	uid := psc.RunAsUser
	if csc.RunAsUser != nil {
		uid = csc.RunAsUser
	}
	if uid != nil && *uid == 0 {
		p.addf(src, "runs as uid 0")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		p.addf(src, "securityContext.allowPrivilegeEscalation must be false")
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		p.addf(src, "securityContext.readOnlyRootFilesystem must be true")
	}
	if csc.Privileged != nil && *csc.Privileged {
		p.addf(src, "privileged container")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		p.addf(src, "securityContext.capabilities.drop must contain ALL")
	} else if len(csc.Capabilities.Add) > 0 {
		p.addf(src, "adds capabilities %v", csc.Capabilities.Add)
	}
	seccomp := psc.SeccompProfile
	if csc.SeccompProfile != nil {
		seccomp = csc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type == corev1.SeccompProfileTypeUnconfined {
		p.addf(src, "seccompProfile must be RuntimeDefault or Localhost")
	}

	if longRunning {
		if c.ReadinessProbe == nil {
			p.addf(src, "missing readinessProbe")
		}
		if c.LivenessProbe == nil {
			p.addf(src, "missing livenessProbe")
		}
	}
}

// checkImage accepts name:tag (tag not latest) or name@digest.
func checkImage(image string) error {
	if image == "" {
		return fmt.Errorf("empty image")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	name, tag := image, ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		name, tag = image[:i], image[i+1:]
	}
	switch {
	case tag == "":
		return fmt.Errorf("image %q has no tag (an implicit latest)", image)
	case tag == "latest":
		return fmt.Errorf("image %q uses the latest tag", image)
	case name == "":
		return fmt.Errorf("image %q has no name", image)
	}
	return nil
}

// checkDeployment holds the rules of the server and worker Deployments.
func checkDeployment(p *problems, src string, d *appsv1.Deployment, set []manifest) {
	component := d.Spec.Template.Labels[componentLabel]
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	spec := &d.Spec.Template.Spec
	switch component {
	case "server":
		if replicas < minServerReplicas {
			p.addf(src, "server replicas %d < %d", replicas, minServerReplicas)
		}
		if len(spec.Containers) == 0 {
			return
		}
		c := &spec.Containers[0]
		checkHTTPProbe(p, src, "readinessProbe", c.ReadinessProbe, "/readyz")
		checkHTTPProbe(p, src, "livenessProbe", c.LivenessProbe, "/healthz")
		if a := spec.Affinity; a == nil || a.PodAntiAffinity == nil ||
			(len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 &&
				len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0) {
			p.addf(src, "missing pod anti-affinity (replicas on one node fail together)")
		}
		if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType ||
			ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			p.addf(src, "rolling update must keep maxUnavailable 0 (a new node is ready before an old one drains)")
		}
		checkDrain(p, src, spec, c, set)
	case "worker":
		if replicas < minWorkerReplicas {
			p.addf(src, "worker replicas %d < %d", replicas, minWorkerReplicas)
		}
		if len(spec.Containers) > 0 {
			checkHTTPProbe(p, src, "readinessProbe", spec.Containers[0].ReadinessProbe, "/readyz")
			checkHTTPProbe(p, src, "livenessProbe", spec.Containers[0].LivenessProbe, "/healthz")
		}
	}
}

func checkHTTPProbe(p *problems, src, name string, probe *corev1.Probe, path string) {
	if probe == nil {
		return // reported by checkContainer
	}
	if probe.HTTPGet == nil || probe.HTTPGet.Path != path {
		p.addf(src, "%s must be an HTTP GET of %s", name, path)
	}
}

// checkDrain requires terminationGracePeriodSeconds to cover the preStop
// sleep plus SHUTDOWN_TIMEOUT (the WebSocket drain), read from the
// container's env or the ConfigMap it takes its env from.
func checkDrain(p *problems, src string, spec *corev1.PodSpec, c *corev1.Container, set []manifest) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		p.addf(src, "missing preStop hook (the load balancer must stop sending before SIGTERM)")
		return
	}
	var preStop time.Duration
	if s := c.Lifecycle.PreStop.Sleep; s != nil {
		preStop = time.Duration(s.Seconds) * time.Second
	}
	shutdown, err := envValue(c, "SHUTDOWN_TIMEOUT", set)
	if err != nil {
		p.addf(src, "%v", err)
		return
	}
	drain := defaultShutdownTimeout
	if shutdown != "" {
		if drain, err = time.ParseDuration(shutdown); err != nil {
			p.addf(src, "SHUTDOWN_TIMEOUT=%q: %v", shutdown, err)
			return
		}
	}
	grace := 30 * time.Second // the Kubernetes default
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < preStop+drain {
		p.addf(src, "terminationGracePeriodSeconds %s < preStop %s + SHUTDOWN_TIMEOUT %s", grace, preStop, drain)
	}
}

// envValue resolves a variable of a container: its env first (literal
// values), then the ConfigMaps of envFrom in order, the last one winning as
// in Kubernetes. A referenced ConfigMap missing from the set is an error.
func envValue(c *corev1.Container, name string, set []manifest) (string, error) {
	for _, e := range c.Env {
		if e.Name == name {
			if e.ValueFrom != nil {
				return "", fmt.Errorf("%s comes from valueFrom: cannot check it", name)
			}
			return e.Value, nil
		}
	}
	value := ""
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm := findConfigMap(set, from.ConfigMapRef.Name)
		if cm == nil {
			return "", fmt.Errorf("envFrom ConfigMap %q is not in this set", from.ConfigMapRef.Name)
		}
		if v, ok := cm.Data[name]; ok {
			value = v
		}
	}
	return value, nil
}

func findConfigMap(set []manifest, name string) *corev1.ConfigMap {
	for _, m := range set {
		if cm, ok := m.Obj.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm
		}
	}
	return nil
}

func checkJob(p *problems, src string, j *batchv1.Job) {
	rp := j.Spec.Template.Spec.RestartPolicy
	if rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
		p.addf(src, "Job restartPolicy must be Never or OnFailure")
	}
	if j.Spec.BackoffLimit == nil {
		p.addf(src, "Job needs an explicit backoffLimit")
	}
	if j.Spec.ActiveDeadlineSeconds == nil {
		p.addf(src, "Job needs activeDeadlineSeconds (kubectl wait must not wait forever)")
	}
	if j.Spec.Template.Labels[componentLabel] == "migrate" {
		c := j.Spec.Template.Spec.Containers
		if len(c) != 1 || !slices.Equal(append(slices.Clone(c[0].Command), c[0].Args...), []string{"migrate"}) {
			p.addf(src, "the migrate Job must run the image's entrypoint with the single argument migrate")
		}
	}
}

func checkHPA(p *problems, src string, h *autoscalingv2.HorizontalPodAutoscaler, set []manifest) {
	ref := h.Spec.ScaleTargetRef
	d := findDeployment(set, ref.Name)
	if ref.Kind != "Deployment" || d == nil {
		p.addf(src, "scaleTargetRef %s/%s is not a Deployment of this set", ref.Kind, ref.Name)
		return
	}
	min := int32(1)
	if h.Spec.MinReplicas != nil {
		min = *h.Spec.MinReplicas
	}
	if d.Spec.Template.Labels[componentLabel] == "server" && min < minServerReplicas {
		p.addf(src, "minReplicas %d < %d", min, minServerReplicas)
	}
	if h.Spec.MaxReplicas < min {
		p.addf(src, "maxReplicas %d < minReplicas %d", h.Spec.MaxReplicas, min)
	}
	if len(h.Spec.Metrics) == 0 {
		p.addf(src, "no metrics to scale on")
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, m := range h.Spec.Metrics {
			if m.Resource != nil {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
					p.addf(src, "scales on %s but container %s has no %s request", m.Resource.Name, c.Name, m.Resource.Name)
				}
			}
		}
	}
}

func findDeployment(set []manifest, name string) *appsv1.Deployment {
	for _, m := range set {
		if d, ok := m.Obj.(*appsv1.Deployment); ok && d.Name == name {
			return d
		}
	}
	return nil
}

// selectsPods reports whether sel matches the pod template of a workload in
// the set.
func selectsPods(set []manifest, sel labels.Selector) bool {
	for _, m := range set {
		var l map[string]string
		switch o := m.Obj.(type) {
		case *appsv1.Deployment:
			l = o.Spec.Template.Labels
		case *appsv1.StatefulSet:
			l = o.Spec.Template.Labels
		default:
			continue
		}
		if sel.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

// checkIngress requires the WebSocket annotations of ingress-nginx and that
// only /api is published (never /metrics or the probes).
func checkIngress(p *problems, src string, in *networkingv1.Ingress, set []manifest) {
	a := in.Annotations
	for _, key := range []string{"nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"} {
		if n, err := strconv.Atoi(a[key]); err != nil || n < wsTimeoutSeconds {
			p.addf(src, "annotation %s must be at least %d (idle WebSockets), got %q", key, wsTimeoutSeconds, a[key])
		}
	}
	if a["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" {
		p.addf(src, "annotation nginx.ingress.kubernetes.io/proxy-buffering must be off")
	}
	if len(in.Spec.TLS) == 0 {
		p.addf(src, "no TLS")
	}
	for _, r := range in.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, path := range r.HTTP.Paths {
			if !strings.HasPrefix(path.Path, "/api/") {
				p.addf(src, "path %q published: only /api/ may be (keeps /metrics, /healthz, /readyz internal)", path.Path)
			}
			svc := path.Backend.Service
			if svc == nil || !hasService(set, svc.Name) {
				p.addf(src, "path %q: backend is not a Service of this set", path.Path)
			}
		}
	}
}

func hasService(set []manifest, name string) bool {
	for _, m := range set {
		if s, ok := m.Obj.(*corev1.Service); ok && s.Name == name {
			return true
		}
	}
	return false
}

// checkNetworkPolicy: on a data store's client port, the only admitted
// peers are the application's pods (server, worker, migrate, in a namespace
// labelled as a data store client) and the store's own pods.
func checkNetworkPolicy(p *problems, src string, np *networkingv1.NetworkPolicy) {
	for i, rule := range np.Spec.Ingress {
		var stores []string
		if len(rule.Ports) == 0 {
			for _, name := range dataStorePorts {
				stores = append(stores, name)
			}
		}
		for _, port := range rule.Ports {
			if port.Port == nil {
				continue
			}
			lo := port.Port.IntVal
			hi := lo
			if port.EndPort != nil {
				hi = *port.EndPort
			}
			for dsPort, name := range dataStorePorts {
				if dsPort >= lo && dsPort <= hi {
					stores = append(stores, name)
				}
			}
		}
		if len(stores) == 0 {
			continue
		}
		sort.Strings(stores)
		if len(rule.From) == 0 {
			p.addf(src, "ingress rule %d opens %v to every pod", i, stores)
		}
		for j, peer := range rule.From {
			if !isSelfPeer(peer, np.Spec.PodSelector) && !isAppPeer(peer) {
				p.addf(src, "ingress rule %d peer %d may reach %v: only server/worker/migrate pods and the store itself may", i, j, stores)
			}
		}
	}
}

func isSelfPeer(peer networkingv1.NetworkPolicyPeer, self metav1.LabelSelector) bool {
	return peer.IPBlock == nil && peer.NamespaceSelector == nil && peer.PodSelector != nil &&
		len(self.MatchLabels)+len(self.MatchExpressions) > 0 &&
		equalSelectors(*peer.PodSelector, self)
}

func equalSelectors(a, b metav1.LabelSelector) bool {
	sa, err1 := metav1.LabelSelectorAsSelector(&a)
	sb, err2 := metav1.LabelSelectorAsSelector(&b)
	return err1 == nil && err2 == nil && sa.String() == sb.String()
}

// isAppPeer: namespaceSelector quizcast.io/datastore-client=true AND a pod
// selector that admits nothing but server, worker and migrate pods.
func isAppPeer(peer networkingv1.NetworkPolicyPeer) bool {
	if peer.IPBlock != nil || peer.NamespaceSelector == nil || peer.PodSelector == nil {
		return false
	}
	ns := peer.NamespaceSelector
	if ns.MatchLabels[clientNSLabel] != "true" {
		return false
	}
	allowed := []string{"server", "worker", "migrate"}
	ps := peer.PodSelector
	if v, ok := ps.MatchLabels[componentLabel]; ok {
		return slices.Contains(allowed, v)
	}
	for _, e := range ps.MatchExpressions {
		if e.Key == componentLabel && e.Operator == metav1.LabelSelectorOpIn && len(e.Values) > 0 {
			for _, v := range e.Values {
				if !slices.Contains(allowed, v) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// crdRule lists what a custom resource must have.
type crdRule struct {
	required []string
	// specKeys are the spec fields the CRD defines that these manifests may
	// use: anything else is most likely a typo the API server would reject.
	specKeys []string
}

var crdRules = map[string]crdRule{
	"Cluster": {
		required: []string{"spec.instances", "spec.imageName", "spec.storage.size",
			"spec.postgresql.synchronous.method", "spec.postgresql.synchronous.number",
			"spec.postgresql.synchronous.dataDurability", "spec.plugins.0.name"},
		specKeys: []string{"instances", "imageName", "primaryUpdateStrategy", "bootstrap", "postgresql",
			"storage", "walStorage", "resources", "affinity", "monitoring", "plugins", "backup",
			"externalClusters", "enableSuperuserAccess", "managed"},
	},
	"ScheduledBackup": {
		required: []string{"spec.schedule", "spec.cluster.name", "spec.method"},
		specKeys: []string{"schedule", "cluster", "method", "pluginConfiguration", "backupOwnerReference", "immediate", "suspend", "target"},
	},
	"ObjectStore": {
		required: []string{"spec.configuration.destinationPath"},
		specKeys: []string{"configuration", "retentionPolicy", "instanceSidecarConfiguration"},
	},
	"RabbitmqCluster": {
		required: []string{"spec.replicas", "spec.image", "spec.persistence.storage"},
		specKeys: []string{"replicas", "image", "resources", "persistence", "rabbitmq", "affinity", "tolerations", "override", "service", "tls", "terminationGracePeriodSeconds"},
	},
	"PrometheusRule": {
		required: []string{"spec.groups.0.name", "spec.groups.0.rules.0.expr"},
		specKeys: []string{"groups"},
	},
	"PodMonitor": {
		required: []string{"spec.selector", "spec.podMetricsEndpoints.0.port"},
		specKeys: []string{"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel", "podTargetLabels"},
	},
}

// checkCustomResource validates a custom resource as YAML: its shape, its
// required keys and its spec's field names.
func checkCustomResource(m manifest) error {
	var p problems
	for k := range m.Raw {
		if !slices.Contains([]string{"apiVersion", "kind", "metadata", "spec"}, k) {
			p.addf(m.Source, "unknown top-level field %q", k)
		}
	}
	md, _ := m.Raw["metadata"].(map[string]any)
	for k := range md {
		if !slices.Contains([]string{"name", "namespace", "labels", "annotations"}, k) {
			p.addf(m.Source, "unknown field metadata.%s", k)
		}
	}
	if m.Name() == "" {
		p.addf(m.Source, "missing metadata.name")
	}
	rule := crdRules[m.GVK.Kind]
	for _, path := range rule.required {
		if _, ok := lookup(m.Raw, path); !ok {
			p.addf(m.Source, "missing %s", path)
		}
	}
	spec, _ := m.Raw["spec"].(map[string]any)
	for k := range spec {
		if !slices.Contains(rule.specKeys, k) {
			p.addf(m.Source, "unknown field spec.%s for %s", k, m.GVK.Kind)
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%s", strings.Join(p, "\n"))
	}
	return nil
}
