package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Typed search attributes of a request workflow. They let compliance and
// auditors filter in the Web UI and with `temporal workflow list --query`,
// e.g. `DsrStatus = 'awaiting_signoff' AND DsrDueAt < '2026-12-01T00:00:00Z'`.
// None of them may ever hold personal data.
var (
	AttrType               = temporal.NewSearchAttributeKeyKeyword("DsrRequestType")
	AttrRegulation         = temporal.NewSearchAttributeKeyKeyword("DsrRegulation")
	AttrStatus             = temporal.NewSearchAttributeKeyKeyword("DsrStatus")
	AttrReceivedAt         = temporal.NewSearchAttributeKeyTime("DsrReceivedAt")
	AttrDueAt              = temporal.NewSearchAttributeKeyTime("DsrDueAt")
	AttrPendingDepartments = temporal.NewSearchAttributeKeyKeywordList("DsrPendingDepartments")
)

// SearchAttributes is what the namespace must have registered, for dev mode,
// tests and the worker's start-up check.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	AttrType.GetName():               enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrRegulation.GetName():         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrStatus.GetName():             enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrReceivedAt.GetName():         enumspb.INDEXED_VALUE_TYPE_DATETIME,
	AttrDueAt.GetName():              enumspb.INDEXED_VALUE_TYPE_DATETIME,
	AttrPendingDepartments.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
