package eas

// EstimateStatus is GetItemEstimate:Status.
type EstimateStatus int

const (
	EstimateOK                EstimateStatus = 1
	EstimateInvalidCollection EstimateStatus = 2
	EstimateNotPrimed         EstimateStatus = 3 // Sync with SyncKey 0 first
	EstimateInvalidSyncKey    EstimateStatus = 4
)

var estimateStatusNames = map[int]string{
	1: "success", 2: "invalid collection", 3: "sync state not primed", 4: "invalid sync key",
}

func (s EstimateStatus) String() string { return statusText(estimateStatusNames, int(s)) }

// GetItemEstimateRequest asks how many items a Sync would return.
type GetItemEstimateRequest struct {
	Collections []EstimateCollection `wbxml:"GetItemEstimate:Collections>GetItemEstimate:Collection"`
}

// EstimateCollection names a collection. Up to 12.1 devices send Class and
// FilterType directly; 14.0 and later put FilterType in Options.
type EstimateCollection struct {
	Class        string       `wbxml:"GetItemEstimate:Class,omitempty"`
	SyncKey      string       `wbxml:"AirSync:SyncKey"`
	CollectionID string       `wbxml:"GetItemEstimate:CollectionId"`
	FilterType   *int         `wbxml:"AirSync:FilterType"`
	Options      *SyncOptions `wbxml:"AirSync:Options"`
}

func (*GetItemEstimateRequest) rootTag() string { return "GetItemEstimate:GetItemEstimate" }

func (r *GetItemEstimateRequest) validate() error {
	return checkSyncKeys(r.Collections, func(c EstimateCollection) string { return c.SyncKey })
}

// ParseGetItemEstimateRequest decodes a GetItemEstimate request.
func ParseGetItemEstimateRequest(data []byte) (*GetItemEstimateRequest, error) {
	return parse[GetItemEstimateRequest](data, false)
}

// GetItemEstimateResponse has one Response per requested collection.
type GetItemEstimateResponse struct {
	Responses []EstimateResponse `wbxml:"GetItemEstimate:Response"`
}

// EstimateResponse is the estimate for one collection.
type EstimateResponse struct {
	Status     EstimateStatus  `wbxml:"GetItemEstimate:Status"`
	Collection *EstimateResult `wbxml:"GetItemEstimate:Collection"`
}

// EstimateResult is the number of items waiting in a collection.
type EstimateResult struct {
	Class        string `wbxml:"GetItemEstimate:Class,omitempty"`
	CollectionID string `wbxml:"GetItemEstimate:CollectionId"`
	Estimate     int    `wbxml:"GetItemEstimate:Estimate"`
}

func (*GetItemEstimateResponse) rootTag() string { return "GetItemEstimate:GetItemEstimate" }

// ParseGetItemEstimateResponse decodes a GetItemEstimate response.
func ParseGetItemEstimateResponse(data []byte) (*GetItemEstimateResponse, error) {
	return parse[GetItemEstimateResponse](data, false)
}
