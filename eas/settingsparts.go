package eas

import "time"

// OofState is Settings:OofState ([MS-ASCMD] 2.2.3.124).
type OofState int

const (
	OofDisabled  OofState = 0
	OofGlobal    OofState = 1
	OofTimeBased OofState = 2 // between StartTime and EndTime
)

// OOF message body types ([MS-ASCMD] 2.2.3.17): the only two values.
const (
	OofBodyText = "Text"
	OofBodyHTML = "HTML"
)

// OofRequest is Settings:Oof in a request: Get names the body type the
// client wants the messages in; Set changes the state.
type OofRequest struct {
	Get *OofGet      `wbxml:"Settings:Get"`
	Set *OofSettings `wbxml:"Settings:Set"`
}

// OofGet is the Get of an Oof request.
type OofGet struct {
	BodyType string `wbxml:"Settings:BodyType"`
}

// OofSettings is the OOF state: the Get of an Oof response, the Set of an
// Oof request.
type OofSettings struct {
	State     OofState     `wbxml:"Settings:OofState"`
	StartTime time.Time    `wbxml:"Settings:StartTime,omitempty"`
	EndTime   time.Time    `wbxml:"Settings:EndTime,omitempty"`
	Messages  []OofMessage `wbxml:"Settings:OofMessage"`
}

// OofMessage is the reply to one audience, named by exactly one AppliesTo
// flag. BodyType is required whenever ReplyMessage is present.
type OofMessage struct {
	AppliesToInternal        bool   `wbxml:"Settings:AppliesToInternal,flag"`
	AppliesToExternalKnown   bool   `wbxml:"Settings:AppliesToExternalKnown,flag"`
	AppliesToExternalUnknown bool   `wbxml:"Settings:AppliesToExternalUnknown,flag"`
	Enabled                  bool   `wbxml:"Settings:Enabled"`
	ReplyMessage             string `wbxml:"Settings:ReplyMessage,omitempty"`
	BodyType                 string `wbxml:"Settings:BodyType,omitempty"`
}

// OofResponse is Settings:Oof in a response.
type OofResponse struct {
	Status SettingsStatus `wbxml:"Settings:Status"`
	Get    *OofSettings   `wbxml:"Settings:Get"`
}

// UserInformationRequest is Settings:UserInformation in a request; Get is
// its one operation (the addresses are read-only).
type UserInformationRequest struct {
	Get bool `wbxml:"Settings:Get,flag"`
}

// UserInformationResponse is Settings:UserInformation in a response.
type UserInformationResponse struct {
	Status SettingsStatus      `wbxml:"Settings:Status"`
	Get    *UserInformationGet `wbxml:"Settings:Get"`
}

// UserInformationGet holds the addresses: directly in EmailAddresses up to
// 14.0, inside Accounts from 14.1 on ([MS-ASCMD] 2.2.3.57). Use
// NewUserInformation to get the form of a version.
type UserInformationGet struct {
	EmailAddresses *EmailAddresses `wbxml:"Settings:EmailAddresses"`
	Accounts       []Account       `wbxml:"Settings:Accounts>Settings:Account"`
}

// Account is one account of the user (14.1 and later). The primary account
// has no AccountId.
type Account struct {
	AccountID       string          `wbxml:"Settings:AccountId,omitempty"`
	AccountName     string          `wbxml:"Settings:AccountName,omitempty"`
	UserDisplayName string          `wbxml:"Settings:UserDisplayName,omitempty"`
	SendDisabled    bool            `wbxml:"Settings:SendDisabled,omitempty"`
	EmailAddresses  *EmailAddresses `wbxml:"Settings:EmailAddresses"`
}

// EmailAddresses lists addresses; PrimarySmtpAddress exists from 14.1 on.
type EmailAddresses struct {
	SMTPAddresses []string `wbxml:"Settings:SmtpAddress"`
	Primary       string   `wbxml:"Settings:PrimarySmtpAddress,omitempty"`
}

// NewUserInformation answers a UserInformation Get at version with the
// user's addresses, the first being the primary one.
func NewUserInformation(version, displayName string, addresses []string) *UserInformationResponse {
	r := &UserInformationResponse{Status: SettingsOK, Get: &UserInformationGet{}}
	if !VersionAtLeast(version, "14.1") {
		r.Get.EmailAddresses = &EmailAddresses{SMTPAddresses: addresses}
		return r
	}
	a := Account{UserDisplayName: displayName, EmailAddresses: &EmailAddresses{SMTPAddresses: addresses}}
	if len(addresses) > 0 {
		a.EmailAddresses.Primary = addresses[0]
	}
	r.Get.Accounts = []Account{a}
	return r
}

// DisabledOof is the OOF state of a mailbox that has never been away: off,
// and for each audience a disabled message without text, in bodyType.
func DisabledOof(bodyType string) *OofSettings {
	return &OofSettings{State: OofDisabled, Messages: []OofMessage{
		{AppliesToInternal: true, BodyType: bodyType},
		{AppliesToExternalKnown: true, BodyType: bodyType},
		{AppliesToExternalUnknown: true, BodyType: bodyType},
	}}
}
