package k8s

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// secretName is the Secret the application's pods read; it comes from
// k8s/secret.template.yaml.
const secretName = "quizcast-secrets"

// checkApp holds the rules of a whole application build (base or overlay):
// every piece docs/deployment.md applies is there and fits together.
func checkApp(set []manifest) problems {
	var p problems
	const src = "app"
	var ns *corev1.Namespace
	var server, worker *appsv1.Deployment
	var migrate *batchv1.Job
	var hasHPA, hasPDB, hasService, hasIngress, hasDeny bool
	for _, m := range set {
		switch o := m.Obj.(type) {
		case *corev1.Namespace:
			if ns != nil {
				p.addf(src, "more than one Namespace")
			}
			ns = o
		case *appsv1.Deployment:
			switch o.Spec.Template.Labels[componentLabel] {
			case "server":
				server = o
			case "worker":
				worker = o
			}
		case *batchv1.Job:
			if o.Spec.Template.Labels[componentLabel] == "migrate" {
				migrate = o
			}
		case *networkingv1.Ingress:
			hasIngress = true
		case *networkingv1.NetworkPolicy:
			hasDeny = hasDeny || isDefaultDeny(o)
		}
	}
	switch {
	case ns == nil:
		p.addf(src, "no Namespace")
		return p
	case server == nil || worker == nil || migrate == nil:
		p.addf(src, "want a server Deployment, a worker Deployment and a migrate Job (component labels)")
		return p
	}
	// Second pass: objects that point at the server.
	serverPods := labels.Set(server.Spec.Template.Labels)
	for _, m := range set {
		switch o := m.Obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			hasHPA = hasHPA || o.Spec.ScaleTargetRef.Name == server.Name
		case *policyv1.PodDisruptionBudget:
			if sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector); err == nil && sel.Matches(serverPods) {
				hasPDB = true
			}
		case *corev1.Service:
			if len(o.Spec.Selector) > 0 && labels.SelectorFromSet(o.Spec.Selector).Matches(serverPods) {
				hasService = true
			}
		}
		if m.GVK.Kind != "Namespace" {
			if got := metaNamespace(m); got != ns.Name {
				p.addf(m.Source, "namespace %q, want %q", got, ns.Name)
			}
		}
	}
	for what, ok := range map[string]bool{
		"HorizontalPodAutoscaler for the server": hasHPA, "PodDisruptionBudget for the server": hasPDB,
		"Service for the server": hasService, "Ingress": hasIngress, "default-deny NetworkPolicy": hasDeny,
	} {
		if !ok {
			p.addf(src, "missing %s", what)
		}
	}
	if ns.Labels[phaseLabel] != "setup" || ns.Labels[clientNSLabel] != "true" {
		p.addf(src, "Namespace needs labels %s=setup and %s=true", phaseLabel, clientNSLabel)
	}

	// One release: the Job migrates for the image the Deployments run.
	images := map[string]bool{}
	for _, spec := range []*corev1.PodSpec{&server.Spec.Template.Spec, &worker.Spec.Template.Spec, &migrate.Spec.Template.Spec} {
		for _, c := range spec.Containers {
			images[c.Image] = true
		}
	}
	if len(images) != 1 {
		p.addf(src, "server, worker and migrate must run one image, got %v", images)
	}
	for _, d := range []*appsv1.Deployment{server, worker} {
		if !takesSecret(d.Spec.Template.Spec.Containers) {
			p.addf(src, "%s does not take envFrom Secret %s", d.Name, secretName)
		}
	}
	if !takesSecret(migrate.Spec.Template.Spec.Containers) {
		p.addf(src, "the migrate Job does not read Secret %s", secretName)
	}

	// `kubectl apply -l quizcast.io/phase=migrate` must bring exactly what
	// the Job needs to run before the rollout.
	var phase []string
	for _, m := range set {
		if m.Labels()[phaseLabel] == "migrate" {
			phase = append(phase, m.GVK.Kind+"/"+m.Name())
		}
	}
	slices.Sort(phase)
	sa := migrate.Spec.Template.Spec.ServiceAccountName
	if want := []string{"Job/" + migrate.Name, "ServiceAccount/" + sa}; !slices.Equal(phase, want) {
		p.addf(src, "objects labelled %s=migrate are %v, want %v", phaseLabel, phase, want)
	}
	return p
}

func metaNamespace(m manifest) string {
	md, _ := m.Raw["metadata"].(map[string]any)
	s, _ := md["namespace"].(string)
	return s
}

func isDefaultDeny(np *networkingv1.NetworkPolicy) bool {
	return len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0 &&
		len(np.Spec.Ingress) == 0 && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func takesSecret(cs []corev1.Container) bool {
	for _, c := range cs {
		for _, f := range c.EnvFrom {
			if f.SecretRef != nil && f.SecretRef.Name == secretName {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secretName {
				return true
			}
		}
	}
	return false
}

// checkDatastores holds the promises of docs/deployment.md about the
// example data stores.
func checkDatastores(set []manifest) problems {
	var p problems
	kinds := map[string]manifest{}
	for _, m := range set {
		kinds[m.GVK.Kind] = m
	}
	if c, ok := kinds["Cluster"]; ok {
		if n := intAt(c.Raw, "spec.instances"); n < 3 {
			p.addf(c.Source, "PostgreSQL needs 3 instances, got %d", n)
		}
		if n := intAt(c.Raw, "spec.postgresql.synchronous.number"); n < 1 {
			p.addf(c.Source, "PostgreSQL needs a synchronous replica")
		}
		if v, _ := lookup(c.Raw, "spec.postgresql.synchronous.dataDurability"); v != "required" {
			p.addf(c.Source, "synchronous.dataDurability must be required, got %v", v)
		}
		img, _ := lookup(c.Raw, "spec.imageName")
		s, _ := img.(string)
		if err := checkImage(s); err != nil {
			p.addf(c.Source, "%v", err)
		} else if major, _ := strconv.Atoi(strings.SplitN(s[strings.LastIndex(s, ":")+1:], ".", 2)[0]); major < 15 {
			p.addf(c.Source, "PostgreSQL %q: want 15 or later", s)
		}
		if v, _ := lookup(c.Raw, "spec.plugins.0.isWALArchiver"); v != true {
			p.addf(c.Source, "no WAL archiver: point-in-time recovery needs one")
		}
		if b, ok := kinds["ScheduledBackup"]; !ok {
			p.addf(c.Source, "no ScheduledBackup")
		} else if v, _ := lookup(b.Raw, "spec.cluster.name"); v != c.Name() {
			p.addf(b.Source, "backs up cluster %v, want %s", v, c.Name())
		}
	} else {
		p.addf("datastores", "no PostgreSQL Cluster")
	}
	if r, ok := kinds["RabbitmqCluster"]; ok {
		if n := intAt(r.Raw, "spec.replicas"); n < 3 || n%2 == 0 {
			p.addf(r.Source, "RabbitMQ needs an odd number of nodes, at least 3 (quorum queues), got %d", n)
		}
		img, _ := lookup(r.Raw, "spec.image")
		s, _ := img.(string)
		if err := checkImage(s); err != nil {
			p.addf(r.Source, "%v", err)
		}
	} else {
		p.addf("datastores", "no RabbitmqCluster")
	}
	redis := false
	for _, m := range set {
		if st, ok := m.Obj.(*appsv1.StatefulSet); ok && st.Name == "redis" {
			redis = true
			args := strings.Join(st.Spec.Template.Spec.Containers[0].Args, " ")
			for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction"} {
				if !strings.Contains(args, want) {
					p.addf(m.Source, "Redis must run with %s", want)
				}
			}
		}
	}
	if !redis {
		p.addf("datastores", "no Redis StatefulSet")
	}

	// The application must be admitted on every client port.
	deny := false
	admitted := map[int32]bool{}
	for _, m := range set {
		np, ok := m.Obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		deny = deny || isDefaultDeny(np)
		for _, rule := range np.Spec.Ingress {
			app := slices.ContainsFunc(rule.From, isAppPeer)
			for _, port := range rule.Ports {
				if port.Port != nil && app {
					admitted[port.Port.IntVal] = true
				}
			}
		}
	}
	if !deny {
		p.addf("datastores", "missing default-deny NetworkPolicy")
	}
	for port, name := range dataStorePorts {
		if !admitted[port] {
			p.addf("datastores", "no NetworkPolicy admits the application to %s (port %d)", name, port)
		}
	}
	return p
}

func intAt(raw map[string]any, path string) int {
	v, _ := lookup(raw, path)
	switch n := v.(type) {
	case float64:
		return int(n)
	case int64:
		return int(n)
	case int:
		return n
	}
	return 0
}

// alertRule is one rule of a PrometheusRule.
type alertRule struct {
	Source      string
	Alert       string
	Expr        string
	Severity    string
	Summary     string
	RunbookURL  string
	ExprMetrics []string
}

var metricName = regexp.MustCompile(`\bquizcast_[a-z0-9_]+`)

// alertRules reads the alerts of the PrometheusRules of a set.
func alertRules(set []manifest) ([]alertRule, problems) {
	var out []alertRule
	var p problems
	for _, m := range set {
		if m.GVK.Kind != "PrometheusRule" {
			continue
		}
		groups, _ := lookup(m.Raw, "spec.groups")
		gs, _ := groups.([]any)
		for gi := range gs {
			rules, _ := lookup(m.Raw, fmt.Sprintf("spec.groups.%d.rules", gi))
			rs, _ := rules.([]any)
			for ri, r := range rs {
				get := func(path string) string {
					v, _ := lookup(r, path)
					s, _ := v.(string)
					return s
				}
				a := alertRule{
					Source: fmt.Sprintf("%s group %d rule %d", m.Source, gi, ri),
					Alert:  get("alert"), Expr: get("expr"), Severity: get("labels.severity"),
					Summary: get("annotations.summary"), RunbookURL: get("annotations.runbook_url"),
				}
				for _, name := range metricName.FindAllString(a.Expr, -1) {
					for _, suffix := range []string{"_bucket", "_count", "_sum"} {
						name = strings.TrimSuffix(name, suffix)
					}
					a.ExprMetrics = append(a.ExprMetrics, name)
				}
				switch {
				case a.Alert == "" || a.Expr == "":
					p.addf(a.Source, "needs alert and expr")
				case a.Severity != "critical" && a.Severity != "warning":
					p.addf(a.Source, "severity must be critical or warning, got %q", a.Severity)
				case a.Summary == "" || a.RunbookURL == "":
					p.addf(a.Source, "needs annotations.summary and annotations.runbook_url")
				case strings.Count(a.Expr, "(") != strings.Count(a.Expr, ")"):
					p.addf(a.Source, "unbalanced parentheses in expr")
				}
				out = append(out, a)
			}
		}
	}
	return out, p
}
