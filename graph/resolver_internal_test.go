package graph

import (
	"reflect"
	"testing"
)

// TestTheResolverRootBuildsEachTypesResolversOnce fails when a type's
// resolvers are added to the schema but not to resolverRoot, whose
// *Resolver would then build them anew for every field resolved.
func TestTheResolverRootBuildsEachTypesResolversOnce(t *testing.T) {
	root := reflect.ValueOf(newResolverRoot(&Resolver{}))
	methods := reflect.TypeFor[ResolverRoot]()
	for i := range methods.NumMethod() {
		name := methods.Method(i).Name
		get := root.MethodByName(name)
		first, second := get.Call(nil)[0].Elem(), get.Call(nil)[0].Elem()
		if first.Pointer() != second.Pointer() {
			t.Errorf("%s() builds a resolver on each call: give resolverRoot one", name)
		}
	}
}
