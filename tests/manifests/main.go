// Command manifests validates Kubernetes manifests offline: it reads `helm template` output on
// stdin and decodes each object strictly into the Go type of its apiVersion and kind, from
// k8s.io/api and the Prometheus Operator's monitoring/v1 API. An unknown field, a value of the
// wrong type, an unparsable quantity or a kind it does not know is an error; names and labels
// are checked with the API server's own rules. It needs no cluster.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is any API type: its ObjectMeta is checked after decoding.
type object interface{ GetObjectMeta() metav1.Object }

// kinds are the types a chart of slostream may render, by apiVersion and kind.
var kinds = map[string]func() object{
	"v1/ConfigMap":                            func() object { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() object { return &corev1.Secret{} },
	"v1/Service":                              func() object { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() object { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() object { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":           func() object { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() object { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() object { return &monitoringv1.PrometheusRule{} },
}

func check(doc []byte) (string, error) {
	var head metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "", err
	}
	key := head.APIVersion + "/" + head.Kind
	newObject, ok := kinds[key]
	if !ok {
		return key, fmt.Errorf("unknown apiVersion and kind %q", key)
	}
	obj := newObject()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return key, err
	}
	meta := obj.GetObjectMeta()
	key += " " + meta.GetName()
	var problems []string
	problems = append(problems, validation.IsDNS1123Subdomain(meta.GetName())...)
	for k, v := range meta.GetLabels() {
		problems = append(problems, validation.IsQualifiedName(k)...)
		problems = append(problems, validation.IsValidLabelValue(v)...)
	}
	for k := range meta.GetAnnotations() {
		problems = append(problems, validation.IsQualifiedName(k)...)
	}
	if len(problems) > 0 {
		return key, fmt.Errorf("metadata: %s", strings.Join(problems, "; "))
	}
	return key, nil
}

func main() {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	failed, seen := 0, 0
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "manifests: reading: %v\n", err)
			os.Exit(2)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		seen++
		key, err := check(doc)
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "%s: %v\n", key, err)
			continue
		}
		fmt.Println(key)
	}
	if failed > 0 || seen == 0 {
		fmt.Fprintf(os.Stderr, "manifests: %d of %d objects invalid\n", failed, seen)
		os.Exit(1)
	}
}

// stripComments drops comment lines, so a document of comments only counts as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}
