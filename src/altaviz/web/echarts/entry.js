// The ECharts the pages use, and nothing else: built by ../vendor.sh with esbuild into
// static/vendor/echarts-5.6.0-altaviz.min.js (window.echarts, as the full build would define).
// Keep in step with the list at the top of static/app.js; tests/e2e/test_phone_a11y_weight.py
// fails when a page asks for a series type or top-level component this bundle lacks.
import * as echarts from "echarts/core";
import { GaugeChart, LineChart, ScatterChart } from "echarts/charts";
import {
  DataZoomInsideComponent,
  DataZoomSliderComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  MarkPointComponent,
  TitleComponent,
  TooltipComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  GaugeChart,
  LineChart,
  ScatterChart,
  DataZoomInsideComponent,
  DataZoomSliderComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  MarkPointComponent,
  TitleComponent,
  TooltipComponent,
  CanvasRenderer,
]);

window.echarts = echarts;
