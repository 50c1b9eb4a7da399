package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The Kubernetes manifests in k8s/, decoded strictly (an unknown or
// misspelt field fails, as `kubectl apply --validate=strict` would) and
// checked for their wiring: ports, probes, Services, the budget, the
// discovery name, and every server flag they set.

const k8sDir = "k8s"

// zoneFieldPath is the downward API path of the zone label that
// PodTopologyLabelsAdmission copies from the node onto the pod.
const zoneFieldPath = "metadata.labels['topology.kubernetes.io/zone']"

// kustomization is the part of kustomization.yaml the manifests use;
// decoded strictly too, so a field added there must be added here.
type kustomization struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Namespace  string      `json:"namespace,omitempty"`
	Resources  []string    `json:"resources"`
	Images     []kustImage `json:"images,omitempty"`
}

// kustImage is an image override of a kustomization.
type kustImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// manifests are the decoded objects of the kustomization.
type manifests struct {
	kust     kustomization
	sts      []*appsv1.StatefulSet
	services []*corev1.Service
	pdbs     []*policyv1.PodDisruptionBudget
}

// readK8sDir reads every YAML file of k8s/ by name.
func readK8sDir(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.y*ml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

// load decodes the kustomization and every resource it lists, strictly.
// Every other YAML file of the directory must be listed.
func load(files map[string][]byte) (*manifests, error) {
	m := &manifests{}
	kb, ok := files["kustomization.yaml"]
	if !ok {
		return nil, fmt.Errorf("no kustomization.yaml")
	}
	if err := yaml.UnmarshalStrict(kb, &m.kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	for name := range files {
		if name != "kustomization.yaml" && !slices.Contains(m.kust.Resources, name) {
			return nil, fmt.Errorf("%s is not in kustomization.yaml's resources", name)
		}
	}
	for _, name := range m.kust.Resources {
		b, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("kustomization.yaml lists %s, which does not exist", name)
		}
		if err := m.addFile(name, b); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// addFile decodes each document of a (multi-document) YAML file.
func (m *manifests) addFile(name string, b []byte) error {
	for i, doc := range splitDocs(b) {
		if err := m.addDoc(doc); err != nil {
			return fmt.Errorf("%s, document %d: %w", name, i+1, err)
		}
	}
	return nil
}

// splitDocs splits a YAML stream at its `---` lines, dropping documents
// that hold only comments.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if j, err := yaml.YAMLToJSON([]byte(d)); err == nil && string(j) == "null" {
			continue
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

// addDoc decodes one object into the API type its apiVersion and kind
// name, refusing unknown fields.
func (m *manifests) addDoc(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		s := &appsv1.StatefulSet{}
		m.sts, obj = append(m.sts, s), s
	case "v1 Service":
		s := &corev1.Service{}
		m.services, obj = append(m.services, s), s
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		m.pdbs, obj = append(m.pdbs, p), p
	default:
		return fmt.Errorf("unexpected object %q %q", tm.APIVersion, tm.Kind)
	}
	return yaml.UnmarshalStrict(doc, obj)
}

// serverFlagsOnce holds the flags of `quorumkv server`, read from its
// --help by a binary built from this checkout.
var serverFlagsOnce = sync.OnceValues(func() (map[string]bool, error) {
	dir, err := os.MkdirTemp("", "quorumkv-deploy-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "quorumkv")
	build := exec.Command(goTool(), "build", "-o", bin, "./cmd/quorumkv")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/quorumkv: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "server", "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("quorumkv server --help: %v\n%s", err, out)
	}
	return parseHelpFlags(out), nil
})

// goTool is the go command that runs this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// parseHelpFlags lists the long flags in a cobra help text.
func parseHelpFlags(help []byte) map[string]bool {
	flags := map[string]bool{}
	re := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9][a-z0-9-]*)`)
	for _, m := range re.FindAllSubmatch(help, -1) {
		flags[string(m[1])] = true
	}
	return flags
}

// TestK8sManifests decodes the manifests strictly and checks their wiring.
func TestK8sManifests(t *testing.T) {
	m, err := load(readK8sDir(t))
	if err != nil {
		t.Fatal(err)
	}
	known, err := serverFlagsOnce()
	if err != nil {
		t.Fatal(err)
	}
	if !known["listen"] || !known["join"] || !known["zone"] {
		t.Fatalf("flags read from `quorumkv server --help` lack --listen, --join or --zone: %v", known)
	}
	for _, e := range checkWiring(m, known) {
		t.Error(e)
	}
}

// TestK8sStrictDecoding: a misspelt field anywhere in a manifest fails the
// decoding, and the checks see a broken wiring.
func TestK8sStrictDecoding(t *testing.T) {
	typos := []struct{ file, from, to string }{
		{"statefulset.yaml", "readinessProbe:", "readinesProbe:"},
		{"statefulset.yaml", "fieldPath: status.podIP", "feildPath: status.podIP"},
		{"services.yaml", "publishNotReadyAddresses:", "publishNotReadyAdresses:"},
		{"pdb.yaml", "maxUnavailable:", "maxUnavilable:"},
		{"kustomization.yaml", "resources:", "resource:"},
	}
	for _, tc := range typos {
		t.Run(tc.to, func(t *testing.T) {
			files := mutate(t, readK8sDir(t), tc.file, tc.from, tc.to)
			_, err := load(files)
			if err == nil || !strings.Contains(err.Error(), "unknown field") {
				t.Fatalf("%s with %q decoded: err %v, want an unknown field", tc.file, tc.to, err)
			}
		})
	}
}

// TestK8sWiringChecksBite: each check fails on a manifest broken its way.
func TestK8sWiringChecksBite(t *testing.T) {
	known := map[string]bool{"id": true, "data": true, "listen": true, "gossip": true, "http": true, "join": true, "log-format": true}
	breaks := []struct{ file, from, to, want string }{
		{"statefulset.yaml", "--listen=0.0.0.0:7101", "--listen=0.0.0.0:7102", "no container port 7102"},
		{"statefulset.yaml", "path: /readyz", "path: /ready", "readiness probe path"},
		{"statefulset.yaml", "serviceName: quorumkv-peers", "serviceName: quorumkv", "serviceName"},
		{"statefulset.yaml", "dns:quorumkv-peers.", "dns:quorumkv-peer.", "headless"},
		{"statefulset.yaml", "--log-format=json", "--log-fromat=json", "--log-fromat"},
		{"statefulset.yaml", "$(POD_NAMESPACE).svc", "$(NAMESPACE).svc", "$(NAMESPACE)"},
		{"services.yaml", "publishNotReadyAddresses: true", "publishNotReadyAddresses: false", "publishNotReadyAddresses"},
		{"pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 2", "maxUnavailable"},
		{"pdb.yaml", "app.kubernetes.io/name: quorumkv\n", "app.kubernetes.io/name: other\n", "PodDisruptionBudget"},
	}
	for _, tc := range breaks {
		t.Run(tc.to, func(t *testing.T) {
			m, err := load(mutate(t, readK8sDir(t), tc.file, tc.from, tc.to))
			if err != nil {
				t.Fatal(err)
			}
			errs := checkWiring(m, known)
			if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), tc.want) }) {
				t.Fatalf("with %q in %s, no error mentions %q: %v", tc.to, tc.file, tc.want, errs)
			}
		})
	}
}

// mutate replaces every from with to in one file (which must hold it).
func mutate(t *testing.T, files map[string][]byte, file, from, to string) map[string][]byte {
	t.Helper()
	if !bytes.Contains(files[file], []byte(from)) {
		t.Fatalf("%s has no %q", file, from)
	}
	files[file] = bytes.ReplaceAll(files[file], []byte(from), []byte(to))
	return files
}

// errList collects what a check finds wrong.
type errList []error

func (l *errList) add(format string, args ...any) { *l = append(*l, fmt.Errorf(format, args...)) }

// checkWiring checks the objects against each other and against the
// server's flags (known).
func checkWiring(m *manifests, known map[string]bool) []error {
	var errs errList
	if len(m.sts) != 1 || len(m.pdbs) != 1 || len(m.services) != 2 {
		errs.add("want 1 StatefulSet, 2 Services and 1 PodDisruptionBudget; have %d, %d and %d", len(m.sts), len(m.services), len(m.pdbs))
		return errs
	}
	sts := m.sts[0]
	pod := sts.Spec.Template.Labels
	checkSelector(&errs, "the StatefulSet", sts.Spec.Selector, pod)
	c, ok := serverContainer(&errs, sts)
	if !ok {
		return errs
	}
	flags := containerFlags(&errs, c, known)
	ports := checkPorts(&errs, c, flags)
	checkProbes(&errs, c, ports)
	checkStatefulSet(&errs, sts, c, flags, m.kust)
	peers, client := splitServices(&errs, m.services)
	if peers != nil {
		checkPeers(&errs, sts, c, peers, flags, ports)
	}
	if client != nil {
		checkClientService(&errs, client, c, pod, ports)
	}
	checkPDB(&errs, m.pdbs[0], pod)
	return errs
}

// checkSelector reports a selector that does not select the pod labels.
func checkSelector(errs *errList, what string, sel *metav1.LabelSelector, pod map[string]string) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	switch {
	case err != nil:
		errs.add("%s's selector: %v", what, err)
	case s.Empty() || !s.Matches(labels.Set(pod)):
		errs.add("%s's selector %v does not select the StatefulSet's pods %v", what, s, pod)
	}
}

// serverContainer finds the container that runs `quorumkv server`.
func serverContainer(errs *errList, sts *appsv1.StatefulSet) (*corev1.Container, bool) {
	cs := sts.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(cs[0].Args) == 0 || cs[0].Args[0] != "server" {
		errs.add("want one container whose args start with server")
		return nil, false
	}
	return &cs[0], true
}

// serverFlags are the server flags a container sets: from its args
// (--name=value or --name value) and from QUORUMKV_NAME variables.
type serverFlags map[string]string

// containerFlags reads the container's server flags, reporting any that
// `quorumkv server` does not have and any $(VAR) not defined in its env.
func containerFlags(errs *errList, c *corev1.Container, known map[string]bool) serverFlags {
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = true
	}
	checkRefs(errs, strings.Join(c.Args, " "), env)
	flags := serverFlags{}
	for i := 1; i < len(c.Args); i++ {
		name, ok := strings.CutPrefix(c.Args[i], "--")
		if !ok {
			errs.add("argument %q is not a --flag", c.Args[i])
			continue
		}
		name, val, hasVal := strings.Cut(name, "=")
		if !hasVal && i+1 < len(c.Args) && !strings.HasPrefix(c.Args[i+1], "-") {
			i++
			val = c.Args[i]
		}
		flags[name] = val
	}
	for _, e := range c.Env {
		if name, ok := strings.CutPrefix(e.Name, "QUORUMKV_"); ok {
			flags[strings.ReplaceAll(strings.ToLower(name), "_", "-")] = e.Value
		}
	}
	for name := range flags {
		if !known[name] {
			errs.add("--%s is not a flag of `quorumkv server`", name)
		}
	}
	return flags
}

// checkRefs reports $(VAR) references to variables the container does not
// define (Kubernetes would leave them as they are).
func checkRefs(errs *errList, s string, env map[string]bool) {
	for _, m := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(s, -1) {
		if !env[m[1]] {
			errs.add("$(%s) is used but not defined in the container's env", m[1])
		}
	}
}

// nodePorts are the ports the server flags open.
type nodePorts struct{ grpc, gossip, http int }

// checkPorts derives the node's ports from its flags (--http auto: the
// --listen port + 200) and checks the container declares each of them.
func checkPorts(errs *errList, c *corev1.Container, flags serverFlags) nodePorts {
	p := nodePorts{grpc: flagPort(errs, flags, "listen"), gossip: flagPort(errs, flags, "gossip")}
	switch h := flags["http"]; h {
	case "off":
		errs.add("--http off: the probes need the admin HTTP port")
	case "", "auto":
		p.http = p.grpc + 200
	default:
		p.http = flagPort(errs, flags, "http")
	}
	want := []struct {
		port  int
		proto corev1.Protocol
	}{{p.grpc, corev1.ProtocolTCP}, {p.gossip, corev1.ProtocolTCP}, {p.gossip, corev1.ProtocolUDP}, {p.http, corev1.ProtocolTCP}}
	for _, w := range want {
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
			return int(cp.ContainerPort) == w.port && protocol(cp.Protocol) == w.proto
		}) {
			errs.add("no container port %d/%s for the server's flags", w.port, w.proto)
		}
	}
	return p
}

// flagPort is the port of a host:port flag.
func flagPort(errs *errList, flags serverFlags, name string) int {
	_, port, err := net.SplitHostPort(flags[name])
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		errs.add("--%s %q: want host:port", name, flags[name])
	}
	return n
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// containerPort resolves a port by number or by the container's port
// name (TCP).
func containerPort(c *corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal && protocol(cp.Protocol) == corev1.ProtocolTCP {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

// checkProbes: liveness GET /livez and readiness GET /readyz on the admin
// HTTP port.
func checkProbes(errs *errList, c *corev1.Container, p nodePorts) {
	for _, pr := range []struct {
		what, path string
		probe      *corev1.Probe
	}{{"liveness", "/livez", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			errs.add("no %s probe with httpGet", pr.what)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			errs.add("%s probe path %q, want %q", pr.what, g.Path, pr.path)
		}
		if got := containerPort(c, g.Port); got != p.http {
			errs.add("%s probe port %v is %d, want the admin HTTP port %d", pr.what, g.Port.String(), got, p.http)
		}
	}
}

// checkStatefulSet: parallel start, a claim template mounted at --data,
// the zone from the pod's topology label, a preStop hook that runs nothing
// but the image's binary, anti-affinity and a zone spread over these
// pods, and the image the kustomization sets.
func checkStatefulSet(errs *errList, sts *appsv1.StatefulSet, c *corev1.Container, flags serverFlags, k kustomization) {
	spec := &sts.Spec
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		errs.add("podManagementPolicy %q, want Parallel", spec.PodManagementPolicy)
	}
	checkDataVolume(errs, spec, c, flags["data"])
	checkZone(errs, c)
	checkPreStop(errs, c)
	checkSpread(errs, &spec.Template)
	if !slices.ContainsFunc(k.Images, func(i kustImage) bool { return i.Name == c.Image }) {
		errs.add("image %q is not one kustomization.yaml's images set", c.Image)
	}
}

// checkDataVolume: --data is the mount path of a volume claim template.
func checkDataVolume(errs *errList, spec *appsv1.StatefulSetSpec, c *corev1.Container, data string) {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != data {
			continue
		}
		if slices.ContainsFunc(spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == vm.Name }) {
			return
		}
	}
	errs.add("--data %q is not the mount path of a volume claim template", data)
}

// checkZone: QUORUMKV_ZONE comes from the pod's zone label.
func checkZone(errs *errList, c *corev1.Container) {
	for _, e := range c.Env {
		if e.Name == "QUORUMKV_ZONE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == zoneFieldPath {
			return
		}
	}
	errs.add("QUORUMKV_ZONE is not read from %s", zoneFieldPath)
}

// checkPreStop: a preStop hook exists, and one that execs runs the image's
// only binary and never `ring leave` (a restart is not a decommission).
func checkPreStop(errs *errList, c *corev1.Container) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		errs.add("no preStop hook")
		return
	}
	if x := c.Lifecycle.PreStop.Exec; x != nil {
		if len(x.Command) == 0 || x.Command[0] != "/quorumkv" {
			errs.add("preStop exec %q: the image has only /quorumkv", x.Command)
		}
		if slices.Contains(x.Command, "leave") {
			errs.add("preStop runs `ring leave`: every restart would decommission the node")
		}
	}
}

// checkSpread: required anti-affinity per machine and a spread over zones,
// both over the StatefulSet's own pods.
func checkSpread(errs *errList, tpl *corev1.PodTemplateSpec) {
	pod := tpl.Labels
	aff := tpl.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || !slices.ContainsFunc(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, func(term corev1.PodAffinityTerm) bool {
		return term.TopologyKey == corev1.LabelHostname && selects(term.LabelSelector, pod)
	}) {
		errs.add("no required pod anti-affinity on %s over these pods", corev1.LabelHostname)
	}
	if !slices.ContainsFunc(tpl.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
		return c.TopologyKey == corev1.LabelTopologyZone && selects(c.LabelSelector, pod)
	}) {
		errs.add("no topology spread over %s for these pods", corev1.LabelTopologyZone)
	}
}

func selects(sel *metav1.LabelSelector, pod map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(pod))
}

// splitServices tells the headless peers Service from the client one.
func splitServices(errs *errList, svcs []*corev1.Service) (peers, client *corev1.Service) {
	for _, s := range svcs {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			peers = s
		} else {
			client = s
		}
	}
	if peers == nil || client == nil {
		errs.add("want one headless Service (clusterIP: None) for the peers and one for clients")
	}
	return peers, client
}

// checkPeers: the StatefulSet's serviceName is the peers Service, which
// publishes not-ready pods, selects the pods, and is the name --join
// dns: resolves (in the pod's own namespace) at the gossip port.
func checkPeers(errs *errList, sts *appsv1.StatefulSet, c *corev1.Container, peers *corev1.Service, flags serverFlags, p nodePorts) {
	if sts.Spec.ServiceName != peers.Name {
		errs.add("the StatefulSet's serviceName %q is not the headless Service %q", sts.Spec.ServiceName, peers.Name)
	}
	if !peers.Spec.PublishNotReadyAddresses {
		errs.add("the peers Service %q does not set publishNotReadyAddresses: nodes could not find each other before they are ready", peers.Name)
	}
	if !selects(&metav1.LabelSelector{MatchLabels: peers.Spec.Selector}, sts.Spec.Template.Labels) {
		errs.add("the peers Service's selector %v does not select the pods", peers.Spec.Selector)
	}
	if !serviceTargets(c, peers, p.gossip) {
		errs.add("the peers Service has no port to the gossip port %d", p.gossip)
	}
	checkJoin(errs, c, peers.Name, flags["join"], p.gossip)
}

// checkJoin: --join dns:SERVICE.$(NS_VAR).svc.cluster.local:GOSSIP_PORT,
// with NS_VAR the pod's namespace from the downward API.
func checkJoin(errs *errList, c *corev1.Container, service, join string, gossip int) {
	name, ok := strings.CutPrefix(join, "dns:")
	host, port, err := net.SplitHostPort(name)
	if !ok || err != nil {
		errs.add("--join %q: want dns:NAME:PORT", join)
		return
	}
	if port != strconv.Itoa(gossip) {
		errs.add("--join %q: port %s is not the gossip port %d", join, port, gossip)
	}
	labels := strings.SplitN(host, ".", 3)
	if len(labels) != 3 || labels[0] != service || labels[2] != "svc.cluster.local" {
		errs.add("--join %q does not name the headless Service %s.NAMESPACE.svc.cluster.local", join, service)
		return
	}
	ns, isRef := strings.CutPrefix(strings.TrimSuffix(labels[1], ")"), "$(")
	if !isRef {
		return // a literal namespace
	}
	for _, e := range c.Env {
		if e.Name == ns && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			return
		}
	}
	errs.add("--join %q: $(%s) is not the pod's metadata.namespace", join, ns)
}

// serviceTargets reports whether svc has a port whose target is the
// container port want.
func serviceTargets(c *corev1.Container, svc *corev1.Service, want int) bool {
	return slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
		t := sp.TargetPort
		if t.Type == intstr.Int && t.IntVal == 0 {
			t = intstr.FromInt32(sp.Port)
		}
		return containerPort(c, t) == want
	})
}

// checkClientService: ready pods only, the same pods, the gRPC port.
func checkClientService(errs *errList, svc *corev1.Service, c *corev1.Container, pod map[string]string, p nodePorts) {
	if svc.Spec.PublishNotReadyAddresses {
		errs.add("the client Service %q publishes pods that are not ready", svc.Name)
	}
	if !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod) {
		errs.add("the client Service's selector %v does not select the pods", svc.Spec.Selector)
	}
	if !serviceTargets(c, svc, p.grpc) {
		errs.add("the client Service has no port to the gRPC port %d", p.grpc)
	}
}

// checkPDB: one pod at a time, over the same pods.
func checkPDB(errs *errList, pdb *policyv1.PodDisruptionBudget, pod map[string]string) {
	if mu := pdb.Spec.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) {
		errs.add("the PodDisruptionBudget's maxUnavailable is %v, want 1", mu)
	}
	checkSelector(errs, "the PodDisruptionBudget", pdb.Spec.Selector, pod)
}
