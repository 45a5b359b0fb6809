include $(sort $(wildcard $(BR2_EXTERNAL_KORHAL_PATH)/package/*/*.mk))
