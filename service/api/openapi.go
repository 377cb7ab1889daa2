package api

import (
	"strconv"
	"strings"
)

// operationDoc is the documentation half of a route.
type operationDoc struct {
	summary   string
	params    []param
	responses map[int]response
}

type param struct {
	name, description, pattern string
}

type response struct {
	description string
	schema      string // a name under components.schemas, or "" for no JSON body
}

// routingNote is how every path below matches (see routable); OpenAPI cannot say it otherwise.
const routingNote = "As there, every path matches case-insensitively and with or without one trailing slash, " +
	"answered in place (no redirect): /API/V1/Currencies/ is /api/v1/currencies."

// openAPIDocument renders the route table as OpenAPI 3.0. Every GET is also listed as HEAD,
// because the mux serves HEAD wherever it serves GET.
func openAPIDocument(routes []route) map[string]any {
	paths := map[string]any{}
	for _, rt := range routes {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = operation(rt, rt.method, rt.doc.summary)
		if rt.method == "GET" {
			item["head"] = operation(rt, "HEAD", rt.doc.summary+" (headers only)")
		}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "CryptoTracker marketdata API",
			"version":     "1",
			"description": "Drop-in replacement for the original ASP.NET Core marketdata service. " + routingNote,
		},
		"paths": paths,
		"components": map[string]any{"schemas": map[string]any{
			"Currency":     object(map[string]any{"symbol": str(), "name": str()}),
			"CurrencyList": map[string]any{"type": "array", "items": ref("Currency")},
			"SystemInfo": object(map[string]any{
				"applicationName": str(), "environmentName": str(), "contentRootPath": str(), "serverUrls": str(), "version": str(),
			}),
			"Status": object(map[string]any{"status": str()}),
			"Error":  object(map[string]any{"error": object(map[string]any{"code": str(), "message": str()})}),
		}},
	}
}

func operation(rt route, method, summary string) map[string]any {
	op := map[string]any{"summary": summary, "operationId": operationID(method, rt.path)}
	var params []any
	for _, p := range rt.doc.params {
		params = append(params, map[string]any{
			"name": p.name, "in": "path", "required": true, "description": p.description,
			"schema": map[string]any{"type": "string", "pattern": p.pattern},
		})
	}
	if params != nil {
		op["parameters"] = params
	}
	responses := map[string]any{}
	for c, r := range rt.doc.responses {
		resp := map[string]any{"description": r.description}
		if r.schema != "" {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": ref(r.schema)}}
		}
		responses[strconv.Itoa(c)] = resp
	}
	op["responses"] = responses
	return op
}

// operationID turns "GET /api/v1/currencies/{symbol}" into "getApiV1CurrenciesSymbol".
func operationID(method, path string) string {
	id := strings.ToLower(method)
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		seg = strings.Trim(seg, "{}")
		seg = strings.NewReplacer(".", "", "-", "").Replace(seg)
		if seg != "" {
			id += strings.ToUpper(seg[:1]) + seg[1:]
		}
	}
	return id
}

func object(props map[string]any) map[string]any {
	return map[string]any{"type": "object", "properties": props}
}

func str() map[string]any { return map[string]any{"type": "string"} }

func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}
