"""The shoppers' user pool in the generated template (cfn-lint and the committed copy are checked by
test_infra_matches_models.py): what the verification in chalicelib/adapters/cognito.py relies on."""
from infra.tables import cloudformation_template


def test_the_template_has_an_email_user_pool_and_a_public_srp_app_client_with_outputs_for_the_app():
    template = cloudformation_template()
    pool = template["Resources"]["ShopperUserPool"]
    assert pool["Type"] == "AWS::Cognito::UserPool" and pool["DeletionPolicy"] == "Retain"
    properties = pool["Properties"]
    assert properties["UsernameAttributes"] == ["email"] and properties["AutoVerifiedAttributes"] == ["email"]
    assert properties["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    client = template["Resources"]["ShopperUserPoolClient"]
    assert client["Type"] == "AWS::Cognito::UserPoolClient"
    assert client["Properties"]["UserPoolId"] == {"Ref": "ShopperUserPool"}
    assert client["Properties"]["GenerateSecret"] is False  # a browser's client can keep no secret
    assert sorted(client["Properties"]["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    outputs = template["Outputs"]
    # The issuer as Cognito writes `iss`: https://cognito-idp.<region>.amazonaws.com/<pool id>.
    assert outputs["ShopperPoolIssuer"]["Value"] == {"Fn::Sub": "https://${ShopperUserPool.ProviderURL}"}
    assert outputs["ShopperPoolClientId"]["Value"] == {"Ref": "ShopperUserPoolClient"}
    assert outputs["ShopperPoolArn"]["Value"] == {"Fn::GetAtt": ["ShopperUserPool", "Arn"]}
    for name, variable in (("ShopperPoolIssuer", "LIVEDROP_COGNITO_ISSUER"),
                           ("ShopperPoolClientId", "LIVEDROP_COGNITO_CLIENT_IDS"),
                           ("ShopperPoolArn", "LIVEDROP_COGNITO_USER_POOL_ARN")):
        assert variable in outputs[name]["Description"]
