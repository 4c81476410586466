"""The shoppers' Cognito user pool and the shop's app client, for verified shoppers
(POST /v1/shoppers/verified exchanges the pool's ID tokens; chalicelib/adapters/cognito.py).

People sign in with their email address, verified by a code before they can sign in. The app
client is public (a browser or a phone app holds it: no secret) and signs in with SRP, so the
password never leaves the device. infra/tables.py puts these into the one generated template;
the outputs go into the stage's environment (README, Verified shoppers).
"""
from __future__ import annotations

from typing import Any

IDENTITY_RESOURCES: dict[str, Any] = {
    "ShopperUserPool": {
        "Type": "AWS::Cognito::UserPool",
        # Retained like the tables: a shopper id is derived from the pool and the person's `sub`, so
        # a new pool would make every verified shopper a stranger to their own orders and limits.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "UserPoolName": {"Fn::Sub": "livedrop-${Stage}-shoppers"},
            "DeletionProtection": "ACTIVE",
            "UsernameAttributes": ["email"],
            "UsernameConfiguration": {"CaseSensitive": False},
            "AutoVerifiedAttributes": ["email"],
            "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
            "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE"},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
            "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True,
                                            "RequireNumbers": True, "RequireSymbols": False,
                                            "TemporaryPasswordValidityDays": 7}},
            "Schema": [{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
        },
    },
    "ShopperUserPoolClient": {
        "Type": "AWS::Cognito::UserPoolClient",
        "Properties": {
            "ClientName": {"Fn::Sub": "livedrop-${Stage}-shop"},
            "UserPoolId": {"Ref": "ShopperUserPool"},
            "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "SupportedIdentityProviders": ["COGNITO"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            # An ID token is exchanged at once for a shopper token (24 h); it need not live long.
            "IdTokenValidity": 60,
            "AccessTokenValidity": 60,
            "RefreshTokenValidity": 30,
            "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"},
        },
    },
}

IDENTITY_OUTPUTS: dict[str, Any] = {
    "ShopperPoolIssuer": {
        "Description": "Put into LIVEDROP_COGNITO_ISSUER in the stage's environment_variables (verified shoppers)",
        "Value": {"Fn::Sub": "https://${ShopperUserPool.ProviderURL}"},
    },
    "ShopperPoolClientId": {
        "Description": "Put into LIVEDROP_COGNITO_CLIENT_IDS in the stage's environment_variables (the shop's app client)",
        "Value": {"Ref": "ShopperUserPoolClient"},
    },
    "ShopperPoolArn": {
        "Description": "Set LIVEDROP_COGNITO_USER_POOL_ARN to this before `chalice deploy` (API Gateway's Cognito "
                       "authorizer on POST /v1/shoppers/verified)",
        "Value": {"Fn::GetAtt": ["ShopperUserPool", "Arn"]},
    },
}
