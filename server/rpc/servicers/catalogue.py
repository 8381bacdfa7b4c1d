"""CatalogueService: thin over server/handlers/catalogue.py."""

from __future__ import annotations

import grpc

from feedback.store import Store
from protos.campaignlift.v1 import catalogue_pb2, catalogue_pb2_grpc
from server.handlers.catalogue import CatalogueHandler
from server.rpc.auth import actor
from server.rpc.converters.catalogue import campaign, campaign_info
from server.rpc.errors import grpc_errors
from server.runtime.catalogue import CatalogueCache


class CatalogueServicer(catalogue_pb2_grpc.CatalogueServiceServicer):
    def __init__(self, store: Store, cache: CatalogueCache) -> None:
        self._handler = CatalogueHandler(store, cache)

    @grpc_errors
    def PutCampaign(
        self, request: catalogue_pb2.PutCampaignRequest, context: grpc.ServicerContext
    ) -> catalogue_pb2.CampaignInfo:
        return campaign_info(self._handler.put(campaign(request.campaign), actor=actor(context)))

    @grpc_errors
    def GetCampaign(
        self, request: catalogue_pb2.GetCampaignRequest, context: grpc.ServicerContext
    ) -> catalogue_pb2.CampaignInfo:
        return campaign_info(self._handler.get(request.campaign_id))

    @grpc_errors
    def ListCampaigns(
        self, request: catalogue_pb2.ListCampaignsRequest, context: grpc.ServicerContext
    ) -> catalogue_pb2.ListCampaignsResponse:
        views, version = self._handler.list()
        return catalogue_pb2.ListCampaignsResponse(
            campaigns=[campaign_info(v) for v in views], catalogue_version=version
        )

    @grpc_errors
    def SetCampaignStatus(
        self, request: catalogue_pb2.SetCampaignStatusRequest, context: grpc.ServicerContext
    ) -> catalogue_pb2.CampaignInfo:
        view = self._handler.set_status(request.campaign_id, request.status, actor=actor(context))
        return campaign_info(view)
