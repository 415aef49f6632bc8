//! Synthetic merchants and citizens that look like Korea, deterministic from a seed.
//!
//! Tests, demos and benchmarks need data with the shape of the real thing: merchants
//! clustered in city centres in proportion to population, names built the way Korean
//! shop names are ("해운대 돼지국밥", "영희네 분식", "행복약국", "스타 분식", "경동시장
//! 행복상회"), addresses that read like 도로명주소, revenue skewed small, valid BRNs, and
//! people with surnames at their real frequencies. Everything comes from one `SmallRng`
//! seed, so a failure found on synthetic data reproduces from its seed.
//!
//! The city table holds real district centres (구청/시청 positions, rounded) and real road
//! names; roads are only loosely tied to districts, so an address may name a road that
//! lies in the next district. Nothing here is real personal data.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rustc_hash::FxHashSet;

use crate::brn::Brn;
use crate::geo::GeoPoint;
use crate::hangul;
use crate::hours::OpeningHours;
use crate::model::{
    Actor, Mcc, Merchant, MerchantId, MerchantProfile, Revenue, RevenueBand, SourceMask, Status,
    StatusChange,
};
use ledger::{Source, Won};

/// A district (구) or the whole of a city or county, with its centre and spread.
#[derive(Debug)]
struct District {
    /// "" for a city without districts.
    name: &'static str,
    lat: f64,
    lon: f64,
    roads: &'static [&'static str],
}

#[derive(Debug)]
struct City {
    sido: &'static str,
    /// The 시/군 inside a 도; `None` for metropolitan cities whose districts are 구.
    city: Option<&'static str>,
    /// Thousands of inhabitants (2020s figures, rounded).
    population_k: u32,
    /// Standard deviation of the spread around a district centre, km.
    spread_km: f64,
    districts: &'static [District],
    /// Markets and neighbourhoods that shop names borrow.
    places: &'static [&'static str],
}

const fn d(name: &'static str, lat: f64, lon: f64, roads: &'static [&'static str]) -> District {
    District {
        name,
        lat,
        lon,
        roads,
    }
}

const CITIES: &[City] = &[
    City {
        sido: "서울특별시",
        city: None,
        population_k: 9_400,
        spread_km: 1.6,
        districts: &[
            d(
                "종로구",
                37.5735,
                126.9790,
                &["종로", "세종대로", "율곡로", "대학로", "창경궁로"],
            ),
            d(
                "중구",
                37.5641,
                126.9979,
                &["을지로", "퇴계로", "남대문로", "세종대로"],
            ),
            d(
                "용산구",
                37.5326,
                126.9905,
                &["한강대로", "이태원로", "녹사평대로"],
            ),
            d(
                "성동구",
                37.5634,
                127.0369,
                &["왕십리로", "성수이로", "고산자로"],
            ),
            d(
                "광진구",
                37.5385,
                127.0823,
                &["능동로", "아차산로", "자양로"],
            ),
            d(
                "동대문구",
                37.5744,
                127.0396,
                &["왕산로", "천호대로", "답십리로"],
            ),
            d("중랑구", 37.6063, 127.0925, &["망우로", "동일로", "면목로"]),
            d(
                "성북구",
                37.5894,
                127.0167,
                &["보문로", "동소문로", "정릉로"],
            ),
            d("강북구", 37.6396, 127.0257, &["도봉로", "삼양로", "한천로"]),
            d("도봉구", 37.6688, 127.0471, &["도봉로", "방학로", "마들로"]),
            d("노원구", 37.6542, 127.0568, &["동일로", "노해로", "상계로"]),
            d("은평구", 37.6027, 126.9291, &["통일로", "연서로", "은평로"]),
            d(
                "서대문구",
                37.5791,
                126.9368,
                &["연세로", "신촌로", "통일로"],
            ),
            d(
                "마포구",
                37.5663,
                126.9019,
                &["마포대로", "양화로", "월드컵로", "독막로"],
            ),
            d("양천구", 37.5170, 126.8665, &["목동로", "오목로", "신월로"]),
            d(
                "강서구",
                37.5509,
                126.8495,
                &["공항대로", "화곡로", "강서로"],
            ),
            d(
                "구로구",
                37.4954,
                126.8874,
                &["디지털로", "구로중앙로", "경인로"],
            ),
            d(
                "금천구",
                37.4568,
                126.8954,
                &["시흥대로", "독산로", "벚꽃로"],
            ),
            d(
                "영등포구",
                37.5264,
                126.8962,
                &["여의대로", "영중로", "당산로"],
            ),
            d(
                "동작구",
                37.5124,
                126.9393,
                &["상도로", "노량진로", "사당로"],
            ),
            d(
                "관악구",
                37.4784,
                126.9516,
                &["관악로", "남부순환로", "봉천로"],
            ),
            d(
                "서초구",
                37.4837,
                127.0324,
                &["서초대로", "강남대로", "반포대로"],
            ),
            d(
                "강남구",
                37.5172,
                127.0473,
                &["테헤란로", "강남대로", "도산대로", "논현로"],
            ),
            d(
                "송파구",
                37.5145,
                127.1059,
                &["올림픽로", "송파대로", "백제고분로"],
            ),
            d(
                "강동구",
                37.5301,
                127.1238,
                &["천호대로", "양재대로", "성내로"],
            ),
        ],
        places: &[
            "경동시장",
            "광장시장",
            "남대문시장",
            "망원시장",
            "통인시장",
            "동대문",
            "신촌",
            "홍대",
            "강남역",
            "잠실",
            "명동",
            "이태원",
            "노량진",
            "종로",
            "성수",
            "을지로",
        ],
    },
    City {
        sido: "부산광역시",
        city: None,
        population_k: 3_300,
        spread_km: 1.5,
        districts: &[
            d(
                "중구",
                35.1064,
                129.0324,
                &["중앙대로", "광복로", "자갈치로"],
            ),
            d("서구", 35.0979, 129.0244, &["구덕로", "대신공원로"]),
            d("동구", 35.1295, 129.0454, &["중앙대로", "초량로"]),
            d("영도구", 35.0911, 129.0679, &["태종로", "절영로"]),
            d(
                "부산진구",
                35.1629,
                129.0532,
                &["중앙대로", "서면로", "전포대로"],
            ),
            d(
                "동래구",
                35.2049,
                129.0837,
                &["충렬대로", "명륜로", "동래로"],
            ),
            d("남구", 35.1366, 129.0843, &["수영로", "용호로"]),
            d("북구", 35.1972, 128.9903, &["낙동대로", "만덕대로"]),
            d(
                "해운대구",
                35.1631,
                129.1635,
                &["해운대로", "구남로", "좌동순환로"],
            ),
            d("사하구", 35.1046, 128.9749, &["낙동대로", "다대로"]),
            d("금정구", 35.2429, 129.0922, &["중앙대로", "금강로"]),
            d("강서구", 35.2122, 128.9806, &["낙동북로", "가락대로"]),
            d("연제구", 35.1762, 129.0799, &["중앙대로", "과정로"]),
            d("수영구", 35.1456, 129.1131, &["광안해변로", "수영로"]),
            d("사상구", 35.1527, 128.9910, &["사상로", "새벽로"]),
            d("기장군", 35.2446, 129.2222, &["기장대로", "차성로"]),
        ],
        places: &[
            "해운대",
            "서면",
            "자갈치",
            "광안리",
            "남포동",
            "부전시장",
            "구포시장",
            "동래",
            "기장",
        ],
    },
    City {
        sido: "인천광역시",
        city: None,
        population_k: 2_950,
        spread_km: 2.0,
        districts: &[
            d(
                "남동구",
                37.4475,
                126.7314,
                &["인주대로", "예술로", "구월로"],
            ),
            d(
                "부평구",
                37.5070,
                126.7219,
                &["부평대로", "경원대로", "시장로"],
            ),
            d(
                "연수구",
                37.4101,
                126.6783,
                &["컨벤시아대로", "센트럴로", "청능대로"],
            ),
            d(
                "미추홀구",
                37.4634,
                126.6503,
                &["인하로", "주안로", "경인로"],
            ),
            d("서구", 37.5453, 126.6760, &["서곶로", "봉오대로"]),
            d("계양구", 37.5372, 126.7378, &["계양대로", "장제로"]),
            d("중구", 37.4738, 126.6216, &["신포로", "제물량로"]),
        ],
        places: &[
            "신포시장",
            "부평",
            "구월",
            "송도",
            "주안",
            "월미도",
            "차이나타운",
        ],
    },
    City {
        sido: "대구광역시",
        city: None,
        population_k: 2_370,
        spread_km: 1.8,
        districts: &[
            d(
                "중구",
                35.8693,
                128.6062,
                &["동성로", "국채보상로", "달구벌대로"],
            ),
            d(
                "수성구",
                35.8582,
                128.6306,
                &["달구벌대로", "동대구로", "범어로"],
            ),
            d(
                "달서구",
                35.8298,
                128.5327,
                &["월배로", "달구벌대로", "성서로"],
            ),
            d("북구", 35.8858, 128.5828, &["칠곡중앙대로", "침산로"]),
            d("동구", 35.8866, 128.6356, &["아양로", "팔공로", "동촌로"]),
            d("서구", 35.8718, 128.5592, &["서대구로", "국채보상로"]),
            d("남구", 35.8460, 128.5974, &["중앙대로", "대명로"]),
        ],
        places: &["서문시장", "동성로", "칠성시장", "수성못", "반월당", "앞산"],
    },
    City {
        sido: "대전광역시",
        city: None,
        population_k: 1_440,
        spread_km: 1.8,
        districts: &[
            d("서구", 36.3554, 127.3838, &["둔산로", "계룡로", "대덕대로"]),
            d(
                "유성구",
                36.3624,
                127.3563,
                &["대학로", "유성대로", "온천로"],
            ),
            d("중구", 36.3255, 127.4213, &["중앙로", "대종로", "계백로"]),
            d("동구", 36.3120, 127.4548, &["대전로", "계족로", "동서대로"]),
            d("대덕구", 36.3467, 127.4156, &["한밭대로", "대전로"]),
        ],
        places: &["중앙시장", "둔산", "유성", "은행동", "대전역", "한밭"],
    },
    City {
        sido: "광주광역시",
        city: None,
        population_k: 1_420,
        spread_km: 1.8,
        districts: &[
            d(
                "서구",
                35.1520,
                126.8903,
                &["상무대로", "무진대로", "상무중앙로"],
            ),
            d("북구", 35.1740, 126.9120, &["용봉로", "서암대로", "무등로"]),
            d("동구", 35.1461, 126.9231, &["금남로", "충장로", "제봉로"]),
            d("남구", 35.1330, 126.9025, &["봉선로", "대남대로", "백운로"]),
            d(
                "광산구",
                35.1395,
                126.7938,
                &["첨단중앙로", "하남대로", "수완로"],
            ),
        ],
        places: &["양동시장", "충장로", "상무", "첨단", "무등산", "송정"],
    },
    City {
        sido: "울산광역시",
        city: None,
        population_k: 1_100,
        spread_km: 2.2,
        districts: &[
            d("남구", 35.5438, 129.3301, &["삼산로", "번영로", "돋질로"]),
            d("중구", 35.5693, 129.3327, &["학성로", "태화로", "성안로"]),
            d("동구", 35.5049, 129.4163, &["방어진순환도로", "대학길"]),
            d("북구", 35.5826, 129.3612, &["산업로", "호계로"]),
            d("울주군", 35.5622, 129.1243, &["언양로", "삼남로"]),
        ],
        places: &["태화강", "삼산", "성남동", "방어진", "언양"],
    },
    City {
        sido: "세종특별자치시",
        city: None,
        population_k: 390,
        spread_km: 2.5,
        districts: &[d(
            "",
            36.4800,
            127.2890,
            &["한누리대로", "도움로", "조치원로"],
        )],
        places: &["조치원", "나성동", "세종호수"],
    },
    City {
        sido: "경기도",
        city: Some("수원시"),
        population_k: 1_190,
        spread_km: 1.8,
        districts: &[
            d("팔달구", 37.2828, 127.0199, &["정조로", "매산로", "효원로"]),
            d("영통구", 37.2596, 127.0466, &["영통로", "봉영로", "청명로"]),
            d("장안구", 37.3039, 127.0102, &["수성로", "경수대로"]),
            d(
                "권선구",
                37.2578,
                126.9719,
                &["권선로", "세권로", "호매실로"],
            ),
        ],
        places: &["팔달문", "지동시장", "인계동", "영통", "수원역", "행궁동"],
    },
    City {
        sido: "경기도",
        city: Some("고양시"),
        population_k: 1_070,
        spread_km: 2.0,
        districts: &[
            d(
                "일산동구",
                37.6588,
                126.7750,
                &["중앙로", "일산로", "정발산로"],
            ),
            d(
                "일산서구",
                37.6754,
                126.7505,
                &["주엽로", "대화로", "중앙로"],
            ),
            d(
                "덕양구",
                37.6375,
                126.8326,
                &["고양대로", "화신로", "화중로"],
            ),
        ],
        places: &["일산", "라페스타", "화정", "주엽", "행신"],
    },
    City {
        sido: "경기도",
        city: Some("용인시"),
        population_k: 1_070,
        spread_km: 2.5,
        districts: &[
            d(
                "수지구",
                37.3222,
                127.0980,
                &["수지로", "풍덕천로", "포은대로"],
            ),
            d(
                "기흥구",
                37.2803,
                127.1146,
                &["중부대로", "기흥로", "동백중앙로"],
            ),
            d(
                "처인구",
                37.2343,
                127.2013,
                &["금령로", "중부대로", "백옥대로"],
            ),
        ],
        places: &["수지", "기흥", "용인중앙시장", "동백", "죽전"],
    },
    City {
        sido: "경기도",
        city: Some("성남시"),
        population_k: 920,
        spread_km: 1.8,
        districts: &[
            d(
                "분당구",
                37.3827,
                127.1189,
                &["황새울로", "성남대로", "분당로"],
            ),
            d("수정구", 37.4505, 127.1457, &["수정로", "산성대로"]),
            d("중원구", 37.4305, 127.1371, &["산성대로", "광명로"]),
        ],
        places: &["모란시장", "서현", "정자동", "판교", "야탑"],
    },
    City {
        sido: "경기도",
        city: Some("화성시"),
        population_k: 950,
        spread_km: 4.0,
        districts: &[
            d(
                "",
                37.2005,
                127.0735,
                &["동탄대로", "동탄순환대로", "노작로"],
            ),
            d("", 37.1996, 126.8312, &["남양로", "시청로", "봉담로"]),
        ],
        places: &["동탄", "병점", "봉담", "남양"],
    },
    City {
        sido: "경기도",
        city: Some("부천시"),
        population_k: 800,
        spread_km: 1.8,
        districts: &[d(
            "",
            37.5034,
            126.7660,
            &["길주로", "부일로", "경인로", "소사로"],
        )],
        places: &["부천역", "중동", "상동", "역곡", "송내"],
    },
    City {
        sido: "경기도",
        city: Some("남양주시"),
        population_k: 730,
        spread_km: 3.5,
        districts: &[d(
            "",
            37.6360,
            127.2165,
            &["경춘로", "다산중앙로", "금강로"],
        )],
        places: &["다산", "별내", "마석", "평내"],
    },
    City {
        sido: "경기도",
        city: Some("안산시"),
        population_k: 630,
        spread_km: 2.2,
        districts: &[
            d(
                "단원구",
                37.3190,
                126.8106,
                &["고잔로", "중앙대로", "원곡로"],
            ),
            d("상록구", 37.3007, 126.8467, &["용신로", "석호로"]),
        ],
        places: &["중앙역", "원곡동", "고잔", "상록수"],
    },
    City {
        sido: "경기도",
        city: Some("안양시"),
        population_k: 550,
        spread_km: 1.8,
        districts: &[
            d("만안구", 37.3867, 126.9322, &["만안로", "안양로"]),
            d(
                "동안구",
                37.3943,
                126.9568,
                &["시민대로", "평촌대로", "흥안대로"],
            ),
        ],
        places: &["안양중앙시장", "평촌", "범계", "안양역"],
    },
    City {
        sido: "경기도",
        city: Some("평택시"),
        population_k: 590,
        spread_km: 3.0,
        districts: &[d("", 36.9921, 127.1129, &["평택로", "중앙로", "경기대로"])],
        places: &["평택역", "송탄", "안중", "통복시장"],
    },
    City {
        sido: "경상남도",
        city: Some("창원시"),
        population_k: 1_010,
        spread_km: 2.2,
        districts: &[
            d(
                "성산구",
                35.1983,
                128.7023,
                &["중앙대로", "원이대로", "창원대로"],
            ),
            d(
                "의창구",
                35.2539,
                128.6398,
                &["창원대로", "의안로", "용지로"],
            ),
            d(
                "마산합포구",
                35.1969,
                128.5678,
                &["해안대로", "3.15대로", "합포로"],
            ),
            d(
                "마산회원구",
                35.2208,
                128.5797,
                &["양덕로", "내서로", "회원로"],
            ),
            d("진해구", 35.1332, 128.7100, &["진해대로", "중원로"]),
        ],
        places: &["상남시장", "마산어시장", "진해", "용호동", "창동"],
    },
    City {
        sido: "경상남도",
        city: Some("김해시"),
        population_k: 530,
        spread_km: 2.5,
        districts: &[d("", 35.2285, 128.8894, &["김해대로", "가야로", "호계로"])],
        places: &["김해", "장유", "내외동", "동상시장"],
    },
    City {
        sido: "경상남도",
        city: Some("진주시"),
        population_k: 340,
        spread_km: 2.2,
        districts: &[d("", 35.1800, 128.1076, &["진주대로", "남강로", "동진로"])],
        places: &["진주중앙시장", "남강", "평거동", "혁신도시"],
    },
    City {
        sido: "충청북도",
        city: Some("청주시"),
        population_k: 850,
        spread_km: 2.0,
        districts: &[
            d("상당구", 36.6352, 127.4891, &["상당로", "대성로"]),
            d("서원구", 36.6375, 127.4693, &["사직대로", "청남로"]),
            d(
                "흥덕구",
                36.6398,
                127.4300,
                &["직지대로", "가경로", "강서로"],
            ),
            d("청원구", 36.6522, 127.4925, &["충청대로", "율봉로"]),
        ],
        places: &["육거리시장", "성안길", "가경동", "오창", "율량동"],
    },
    City {
        sido: "충청남도",
        city: Some("천안시"),
        population_k: 660,
        spread_km: 2.2,
        districts: &[
            d(
                "동남구",
                36.8071,
                127.1520,
                &["충절로", "만남로", "천안대로"],
            ),
            d(
                "서북구",
                36.8785,
                127.1540,
                &["번영로", "불당대로", "성정공원로"],
            ),
        ],
        places: &["천안역", "신부동", "불당동", "병천"],
    },
    City {
        sido: "충청남도",
        city: Some("부여군"),
        population_k: 62,
        spread_km: 2.5,
        districts: &[d(
            "",
            36.2757,
            126.9097,
            &["부여읍 사비로", "부여읍 계백로", "규암면 규암로"],
        )],
        places: &["부여시장", "궁남지", "규암"],
    },
    City {
        sido: "전북특별자치도",
        city: Some("전주시"),
        population_k: 640,
        spread_km: 1.8,
        districts: &[
            d(
                "완산구",
                35.8127,
                127.1199,
                &["팔달로", "전라감영로", "충경로"],
            ),
            d(
                "덕진구",
                35.8294,
                127.1346,
                &["백제대로", "기린대로", "송천중앙로"],
            ),
        ],
        places: &["남부시장", "한옥마을", "전주역", "객사", "효자동"],
    },
    City {
        sido: "전라남도",
        city: Some("여수시"),
        population_k: 270,
        spread_km: 2.5,
        districts: &[d(
            "",
            34.7604,
            127.6622,
            &["시청로", "좌수영로", "여수시민로"],
        )],
        places: &["여수수산시장", "이순신광장", "여서동", "돌산"],
    },
    City {
        sido: "전라남도",
        city: Some("순천시"),
        population_k: 280,
        spread_km: 2.2,
        districts: &[d(
            "",
            34.9507,
            127.4872,
            &["장평로", "중앙로", "연향번영길"],
        )],
        places: &["아랫장", "웃장", "연향동", "순천만"],
    },
    City {
        sido: "전라남도",
        city: Some("목포시"),
        population_k: 220,
        spread_km: 2.0,
        districts: &[d("", 34.8118, 126.3922, &["영산로", "평화로", "하당로"])],
        places: &["목포항", "하당", "유달산", "청호시장"],
    },
    City {
        sido: "경상북도",
        city: Some("포항시"),
        population_k: 500,
        spread_km: 2.5,
        districts: &[
            d(
                "남구",
                36.0088,
                129.3593,
                &["포스코대로", "대잠로", "희망대로"],
            ),
            d(
                "북구",
                36.0418,
                129.3651,
                &["삼호로", "중앙로", "새천년대로"],
            ),
        ],
        places: &["죽도시장", "영일대", "구룡포", "양덕"],
    },
    City {
        sido: "경상북도",
        city: Some("구미시"),
        population_k: 410,
        spread_km: 2.5,
        districts: &[d(
            "",
            36.1195,
            128.3446,
            &["구미대로", "송정대로", "산호대로"],
        )],
        places: &["구미역", "인동", "옥계", "새마을중앙시장"],
    },
    City {
        sido: "경상북도",
        city: Some("경주시"),
        population_k: 250,
        spread_km: 3.0,
        districts: &[d("", 35.8562, 129.2247, &["태종로", "원화로", "알천북로"])],
        places: &["황리단길", "보문", "성동시장", "불국사"],
    },
    City {
        sido: "강원특별자치도",
        city: Some("원주시"),
        population_k: 360,
        spread_km: 2.5,
        districts: &[d("", 37.3422, 127.9202, &["원일로", "시청로", "단구로"])],
        places: &["원주중앙시장", "무실동", "단구동", "혁신도시"],
    },
    City {
        sido: "강원특별자치도",
        city: Some("춘천시"),
        population_k: 290,
        spread_km: 2.2,
        districts: &[d("", 37.8813, 127.7298, &["중앙로", "춘천로", "공지로"])],
        places: &["명동닭갈비골목", "소양강", "퇴계동", "남춘천"],
    },
    City {
        sido: "강원특별자치도",
        city: Some("강릉시"),
        population_k: 210,
        spread_km: 2.5,
        districts: &[d("", 37.7519, 128.8760, &["경강로", "율곡로", "강릉대로"])],
        places: &["강릉중앙시장", "경포", "주문진", "안목"],
    },
    City {
        sido: "제주특별자치도",
        city: Some("제주시"),
        population_k: 490,
        spread_km: 2.5,
        districts: &[d(
            "",
            33.4996,
            126.5312,
            &["중앙로", "연삼로", "노형로", "일주동로"],
        )],
        places: &["동문시장", "노형", "탑동", "애월", "함덕"],
    },
    City {
        sido: "제주특별자치도",
        city: Some("서귀포시"),
        population_k: 180,
        spread_km: 3.0,
        districts: &[d(
            "",
            33.2541,
            126.5601,
            &["중정로", "일주동로", "중산간동로"],
        )],
        places: &["올레시장", "중문", "성산", "표선"],
    },
    City {
        sido: "경상북도",
        city: Some("울릉군"),
        population_k: 9,
        spread_km: 1.0,
        districts: &[d(
            "",
            37.4845,
            130.9057,
            &["울릉읍 울릉순환로", "울릉읍 도동길"],
        )],
        places: &["도동항", "저동"],
    },
];

/// A kind of business: the word in its name, its MCC and scheme category.
#[derive(Debug)]
struct Kind {
    word: &'static str,
    en: &'static str,
    mcc: u16,
    category: u16,
    weight: u32,
    hours: &'static [&'static str],
    /// Likely to take policy allowances (food, groceries, health).
    allowance: bool,
}

/// Scheme categories used by the synthetic scheme.
pub const CATEGORY_NAMES: [&str; 9] = [
    "미분류",
    "음식점",
    "카페·제과",
    "마트·식료품",
    "병원·약국",
    "생활서비스",
    "교육·문구",
    "의류·잡화",
    "여가·문화",
];

const fn k(
    word: &'static str,
    en: &'static str,
    mcc: u16,
    category: u16,
    weight: u32,
    hours: &'static [&'static str],
    allowance: bool,
) -> Kind {
    Kind {
        word,
        en,
        mcc,
        category,
        weight,
        hours,
        allowance,
    }
}

const MEAL: &[&str] = &["매일 11:00-22:00", "월-토 10:30-21:30", "화-일 11:00-21:00"];
const SHOP: &[&str] = &["월-토 09:00-20:00", "매일 10:00-21:00"];

const KINDS: &[Kind] = &[
    k("식당", "Restaurant", 5812, 1, 10, MEAL, true),
    k("한식당", "Korean Restaurant", 5812, 1, 4, MEAL, true),
    k(
        "돼지국밥",
        "Dwaeji Gukbap",
        5812,
        1,
        3,
        &["매일 08:00-22:00", "24시간"],
        true,
    ),
    k("국밥", "Gukbap", 5812, 1, 3, &["매일 07:00-21:00"], true),
    k(
        "분식",
        "Snack Bar",
        5814,
        1,
        6,
        &["월-토 09:00-21:00", "매일 10:00-22:00"],
        true,
    ),
    k("김밥", "Gimbap", 5814, 1, 4, &["매일 06:30-21:00"], true),
    k("치킨", "Chicken", 5814, 1, 5, &["매일 16:00-02:00"], true),
    k("중화요리", "Chinese Restaurant", 5812, 1, 3, MEAL, true),
    k(
        "횟집",
        "Sashimi House",
        5812,
        1,
        2,
        &["매일 12:00-23:00"],
        true,
    ),
    k(
        "고깃집",
        "BBQ House",
        5812,
        1,
        3,
        &["매일 16:00-23:00"],
        true,
    ),
    k(
        "칼국수",
        "Kalguksu",
        5812,
        1,
        2,
        &["매일 10:30-20:30"],
        true,
    ),
    k(
        "카페",
        "Cafe",
        5814,
        2,
        8,
        &["매일 08:00-22:00", "월-금 07:30-20:00, 토-일 10:00-21:00"],
        false,
    ),
    k(
        "베이커리",
        "Bakery",
        5462,
        2,
        3,
        &["매일 07:00-22:00"],
        true,
    ),
    k(
        "떡집",
        "Rice Cake Shop",
        5462,
        2,
        2,
        &["월-토 07:00-19:00"],
        true,
    ),
    k("마트", "Mart", 5411, 3, 6, &["매일 09:00-23:00"], true),
    k(
        "슈퍼",
        "Supermarket",
        5411,
        3,
        3,
        &["매일 08:00-23:00"],
        true,
    ),
    k("상회", "Store", 5411, 3, 3, &["월-토 08:00-20:00"], true),
    k("편의점", "Convenience Store", 5499, 3, 4, &["24시간"], true),
    k("정육점", "Butcher", 5422, 3, 3, &["매일 09:00-21:00"], true),
    k(
        "과일가게",
        "Fruit Shop",
        5499,
        3,
        3,
        &["매일 09:00-21:00"],
        true,
    ),
    k(
        "반찬가게",
        "Side Dish Shop",
        5499,
        3,
        2,
        &["월-토 09:00-20:00"],
        true,
    ),
    k("수산", "Seafood", 5499, 3, 2, &["매일 06:00-20:00"], true),
    k(
        "약국",
        "Pharmacy",
        5912,
        4,
        5,
        &["월-금 09:00-19:00, 토 09:00-14:00", "월-토 09:00-21:00"],
        true,
    ),
    k(
        "한의원",
        "Oriental Clinic",
        8099,
        4,
        2,
        &["월-금 09:00-18:00, 토 09:00-13:00"],
        true,
    ),
    k(
        "의원",
        "Clinic",
        8011,
        4,
        2,
        &["월-금 09:00-18:30, 토 09:00-13:00"],
        true,
    ),
    k(
        "치과",
        "Dental Clinic",
        8021,
        4,
        2,
        &["월-금 10:00-19:00, 토 10:00-14:00"],
        true,
    ),
    k(
        "안경원",
        "Optician",
        8043,
        4,
        2,
        &["월-토 10:00-21:00"],
        true,
    ),
    k(
        "동물병원",
        "Animal Hospital",
        742,
        4,
        1,
        &["월-토 10:00-20:00"],
        false,
    ),
    k(
        "미용실",
        "Hair Salon",
        7230,
        5,
        6,
        &["화-일 10:00-20:00"],
        true,
    ),
    k(
        "세탁소",
        "Laundry",
        7216,
        5,
        3,
        &["월-토 08:00-20:00"],
        true,
    ),
    k("철물점", "Hardware Store", 5251, 5, 2, SHOP, true),
    k("꽃집", "Florist", 5992, 5, 2, SHOP, false),
    k(
        "문구점",
        "Stationery",
        5943,
        6,
        2,
        &["월-토 08:00-20:00"],
        true,
    ),
    k("서점", "Bookstore", 5942, 6, 1, SHOP, true),
    k("학원", "Academy", 8299, 6, 3, &["월-금 14:00-22:00"], true),
    k("옷가게", "Clothing", 5651, 7, 3, SHOP, false),
    k("신발", "Shoes", 5661, 7, 1, SHOP, false),
    k("휴대폰", "Mobile Shop", 4812, 7, 1, SHOP, false),
    k(
        "노래방",
        "Karaoke",
        7999,
        8,
        1,
        &["매일 14:00-03:00"],
        false,
    ),
    k(
        "헬스",
        "Gym",
        7997,
        8,
        1,
        &["월-금 06:00-23:00, 토 09:00-18:00"],
        false,
    ),
];

const ADJECTIVES: &[&str] = &[
    "행복",
    "사랑",
    "우리",
    "싱싱",
    "맛있는",
    "착한",
    "좋은",
    "으뜸",
    "제일",
    "하나",
    "한솔",
    "미소",
    "푸른",
    "참",
    "늘푸른",
    "온누리",
    "다정",
    "햇살",
    "봄날",
    "소문난",
    "정든",
    "새",
];
const TRADITIONAL: &[&str] = &[
    "원조",
    "할매",
    "엄마손",
    "옛날",
    "시골",
    "본가",
    "명가",
    "큰집",
    "고향",
    "전통",
];
/// Loanwords used in shop names, with their English spelling.
const LOANWORDS: &[(&str, &str)] = &[
    ("스타", "Star"),
    ("뉴욕", "New York"),
    ("해피", "Happy"),
    ("굿모닝", "Good Morning"),
    ("파리", "Paris"),
    ("그린", "Green"),
    ("블루", "Blue"),
    ("스마일", "Smile"),
    ("드림", "Dream"),
    ("킹", "King"),
    ("로얄", "Royal"),
    ("베스트", "Best"),
    ("프렌즈", "Friends"),
    ("센트럴", "Central"),
];
const DONGS: &[&str] = &[
    "중앙동",
    "신흥동",
    "평화동",
    "남산동",
    "대신동",
    "수정동",
    "명륜동",
    "신정동",
    "상동",
    "중동",
    "삼성동",
    "역삼동",
    "우동",
    "연산동",
    "봉명동",
    "용산동",
    "효자동",
    "인계동",
];

/// Surnames with their frequency per 1,000 people (2015 census, rounded).
const SURNAMES: &[(&str, u32)] = &[
    ("김", 215),
    ("이", 147),
    ("박", 84),
    ("최", 47),
    ("정", 43),
    ("강", 23),
    ("조", 21),
    ("윤", 20),
    ("장", 20),
    ("임", 17),
    ("한", 15),
    ("오", 15),
    ("서", 15),
    ("신", 15),
    ("권", 14),
    ("황", 14),
    ("안", 14),
    ("송", 13),
    ("전", 11),
    ("홍", 11),
    ("유", 11),
    ("고", 9),
    ("문", 9),
    ("양", 9),
    ("손", 9),
    ("배", 8),
    ("백", 8),
    ("허", 7),
    ("노", 7),
    ("남", 6),
    ("심", 5),
    ("하", 5),
    ("곽", 4),
    ("성", 4),
    ("차", 4),
    ("주", 4),
    ("우", 4),
    ("구", 4),
    ("민", 3),
    ("진", 3),
    ("나", 3),
    ("지", 3),
    ("엄", 3),
    ("채", 3),
    ("원", 3),
    ("천", 3),
    ("방", 3),
    ("공", 2),
    ("현", 2),
    ("함", 2),
    ("변", 2),
    ("염", 2),
    ("여", 2),
    ("추", 1),
    ("도", 1),
    ("소", 1),
    ("석", 1),
    ("선우", 1),
    ("남궁", 1),
    ("황보", 1),
    ("제갈", 1),
];

/// Common given names across generations.
const GIVEN_NAMES: &[&str] = &[
    "민준", "서준", "도윤", "예준", "시우", "하준", "주원", "지호", "지후", "준우", "준서", "건우",
    "현우", "우진", "선우", "서진", "민재", "현준", "연우", "유준", "정우", "승우", "승현", "시윤",
    "준혁", "은우", "지환", "승민", "유찬", "영수", "영호", "영철", "영식", "상철", "성수", "성호",
    "정호", "재훈", "동현", "상훈", "성민", "정훈", "재현", "지훈", "태호", "민수", "진호", "광수",
    "종민", "서연", "서윤", "지우", "서현", "민서", "하은", "하윤", "윤서", "지유", "지민", "채원",
    "수아", "지아", "지윤", "다은", "은서", "예은", "수빈", "소윤", "예린", "영희", "순자", "영숙",
    "정희", "미경", "미숙", "경희", "정숙", "현주", "은주", "지영", "민정", "수진", "혜진", "은영",
    "미영", "지현", "유진", "소영", "선영", "은정", "철수", "말순", "옥순", "길동",
];
const GIVEN_FIRST: &[&str] = &[
    "민", "서", "지", "현", "준", "도", "예", "하", "주", "수", "은", "윤", "채", "유", "승", "정",
    "성", "영", "재", "태", "동", "상", "경", "미", "혜", "소", "선", "진", "다", "나", "가", "시",
    "우", "연",
];
const GIVEN_SECOND: &[&str] = &[
    "준", "윤", "우", "호", "후", "서", "원", "진", "민", "현", "아", "은", "연", "희", "수", "빈",
    "영", "훈", "혁", "성", "석", "철", "숙", "정", "경", "미", "린", "율", "결",
];

/// A synthetic citizen for the demo population.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SynthCitizen {
    pub name: String,
    pub sido: String,
    pub sigungu: Option<String>,
    /// "서울특별시 노원구 동일로 1234, 101동 1203호".
    pub address: String,
    pub location: GeoPoint,
}

/// Where a synthetic place is.
#[derive(Debug)]
struct Place {
    city: &'static City,
    district: &'static District,
    location: GeoPoint,
}

/// The generator. One seed, one sequence of merchants and people.
#[derive(Debug)]
pub struct Synth {
    rng: SmallRng,
    brns: FxHashSet<Brn>,
    city_cumulative: Vec<u32>,
    kind_cumulative: Vec<u32>,
    surname_cumulative: Vec<u32>,
}

fn cumulative(weights: impl Iterator<Item = u32>) -> Vec<u32> {
    weights
        .scan(0u32, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

fn pick_weighted(rng: &mut SmallRng, cumulative: &[u32]) -> usize {
    let total = cumulative.last().copied().unwrap_or(1).max(1);
    let x = rng.random_range(0..total);
    cumulative.partition_point(|&c| c <= x)
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Capitalised Revised Romanisation of one word.
fn roman(word: &str) -> String {
    hangul::romanize(word)
}

impl Synth {
    pub fn new(seed: u64) -> Synth {
        Synth {
            rng: SmallRng::seed_from_u64(seed),
            brns: FxHashSet::default(),
            city_cumulative: cumulative(CITIES.iter().map(|c| c.population_k)),
            kind_cumulative: cumulative(KINDS.iter().map(|k| k.weight)),
            surname_cumulative: cumulative(SURNAMES.iter().map(|s| s.1)),
        }
    }

    /// The same generator, placing everything in one 시도 (e.g. `부산광역시`, for a town's
    /// own currency). An unknown name leaves the whole country.
    pub fn only_in(mut self, sido: &str) -> Synth {
        if CITIES.iter().any(|c| c.sido == sido) {
            self.city_cumulative = cumulative(
                CITIES
                    .iter()
                    .map(|c| if c.sido == sido { c.population_k } else { 0 }),
            );
        }
        self
    }

    /// The generator's random source, for callers that need more randomness in the same
    /// reproducible stream.
    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// A standard normal variate (Box–Muller; `rand_distr` is not needed for this).
    fn normal(&mut self) -> f64 {
        let u1: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn place(&mut self) -> Place {
        let city = &CITIES[pick_weighted(&mut self.rng, &self.city_cumulative)];
        let district = pick(&mut self.rng, city.districts);
        // Gaussian spread around the district centre: dense in the middle, thinning out.
        loop {
            let dn = self.normal() * city.spread_km;
            let de = self.normal() * city.spread_km;
            let lat = district.lat + dn / 111.32;
            let lon = district.lon + de / (111.32 * district.lat.to_radians().cos());
            if let Ok(location) = GeoPoint::from_degrees(lat, lon) {
                return Place {
                    city,
                    district,
                    location,
                };
            }
        }
    }

    /// A point where people are (weighted by population), for search benchmarks.
    pub fn point_near_people(&mut self) -> GeoPoint {
        self.place().location
    }

    fn sigungu(place: &Place) -> Option<String> {
        match (place.city.city, place.district.name) {
            (None, "") => None,
            (None, gu) => Some(gu.to_string()),
            (Some(si), "") => Some(si.to_string()),
            (Some(si), gu) => Some(format!("{si} {gu}")),
        }
    }

    fn road_address(&mut self, place: &Place) -> String {
        let road = pick(&mut self.rng, place.district.roads);
        // Building numbers: mostly small, a long tail along big roads.
        let number = 1 + (self.rng.random::<f64>().powi(2) * 400.0) as u32;
        let sub = if self.rng.random_bool(0.1) {
            format!("-{}", self.rng.random_range(1..20))
        } else {
            String::new()
        };
        match Self::sigungu(place) {
            Some(s) => format!("{} {} {} {}{}", place.city.sido, s, road, number, sub),
            None => format!("{} {} {}{}", place.city.sido, road, number, sub),
        }
    }

    /// A Korean person's name: surname by real frequency, then a two-syllable given name.
    pub fn person_name(&mut self) -> String {
        let surname = SURNAMES[pick_weighted(&mut self.rng, &self.surname_cumulative)].0;
        format!("{surname}{}", self.given_name())
    }

    fn given_name(&mut self) -> String {
        if self.rng.random_bool(0.75) {
            pick(&mut self.rng, GIVEN_NAMES).to_string()
        } else {
            format!(
                "{}{}",
                pick(&mut self.rng, GIVEN_FIRST),
                pick(&mut self.rng, GIVEN_SECOND)
            )
        }
    }

    /// A citizen with a name and a home address (60% in an apartment block).
    pub fn citizen(&mut self) -> SynthCitizen {
        let name = self.person_name();
        let place = self.place();
        let mut address = self.road_address(&place);
        if self.rng.random_bool(0.6) {
            let dong = 101 + self.rng.random_range(0..15);
            let ho = 100 * self.rng.random_range(1..26) + self.rng.random_range(1..7);
            address.push_str(&format!(", {dong}동 {ho}호"));
        }
        SynthCitizen {
            name,
            sido: place.city.sido.to_string(),
            sigungu: Self::sigungu(&place),
            address,
            location: place.location,
        }
    }

    /// A fresh valid BRN, unique within this generator.
    pub fn brn(&mut self) -> Brn {
        loop {
            let office = self.rng.random_range(101..=799u32);
            let kind = if self.rng.random_bool(0.12) {
                *pick(&mut self.rng, &[81u32, 86, 87])
            } else {
                self.rng.random_range(1..=79u32)
            };
            let serial = self.rng.random_range(1..=9999u32);
            let prefix = office * 1_000_000 + kind * 10_000 + serial;
            if let Some(brn) = Brn::from_prefix(prefix)
                && self.brns.insert(brn)
            {
                return brn;
            }
        }
    }

    /// A name for a shop of `kind` at `place`: Korean, and English for some.
    fn shop_name(&mut self, kind: &Kind, place: &Place) -> (String, Option<String>) {
        let w = kind.word;
        let (ko, en) = match self.rng.random_range(0..100) {
            0..25 => {
                let p = *pick(&mut self.rng, place.city.places);
                (format!("{p} {w}"), format!("{} {}", roman(p), kind.en))
            }
            25..35 => {
                let p = *pick(&mut self.rng, place.city.places);
                let a = *pick(&mut self.rng, ADJECTIVES);
                (
                    format!("{p} {a}{w}"),
                    format!("{} {} {}", roman(p), roman(a), kind.en),
                )
            }
            35..50 => {
                let g = self.given_name();
                (format!("{g}네 {w}"), format!("{}ne {}", roman(&g), kind.en))
            }
            50..68 => {
                let a = *pick(&mut self.rng, ADJECTIVES);
                if self.rng.random_bool(0.5) {
                    (format!("{a}{w}"), format!("{} {}", roman(a), kind.en))
                } else {
                    (format!("{a} {w}"), format!("{} {}", roman(a), kind.en))
                }
            }
            68..78 => {
                let s = SURNAMES[pick_weighted(&mut self.rng, &self.surname_cumulative)].0;
                if kind.category == 4 {
                    let g = self.given_name();
                    (
                        format!("{s}{g} {w}"),
                        format!("{} {} {}", roman(s), roman(&g), kind.en),
                    )
                } else {
                    (
                        format!("{s}씨네 {w}"),
                        format!("{}ssine {}", roman(s), kind.en),
                    )
                }
            }
            78..88 => {
                let (lk, le) = *pick(&mut self.rng, LOANWORDS);
                (format!("{lk} {w}"), format!("{le} {}", kind.en))
            }
            88..94 => {
                let a = *pick(&mut self.rng, ADJECTIVES);
                let p = *pick(&mut self.rng, place.city.places);
                (
                    format!("{a}{w} {p}점"),
                    format!("{} {} {}", roman(a), kind.en, roman(p)),
                )
            }
            _ => {
                let t = *pick(&mut self.rng, TRADITIONAL);
                (format!("{t} {w}"), format!("{} {}", roman(t), kind.en))
            }
        };
        let en = self.rng.random_bool(0.35).then_some(en);
        (ko, en)
    }

    fn revenue(&mut self) -> Revenue {
        // Log-normal around 1.2억 won a year; a few large stores far above.
        let mut won = (1.2e8f64.ln() + self.normal() * 0.9).exp();
        if self.rng.random_bool(0.02) {
            won *= 30.0;
        }
        let won = (won.clamp(5e6, 5e11) / 1_000.0).round() as i64 * 1_000;
        if self.rng.random_bool(0.25) {
            Revenue::Band(RevenueBand::of(Won::new(won)))
        } else {
            Revenue::AnnualWon(Won::new(won))
        }
    }

    /// A merchant profile somewhere in Korea.
    pub fn profile(&mut self) -> MerchantProfile {
        let kind = &KINDS[pick_weighted(&mut self.rng, &self.kind_cumulative)];
        let place = self.place();
        let (name, name_en) = self.shop_name(kind, &place);
        let road_address = self.road_address(&place);
        let jibun_address = self.rng.random_bool(0.5).then(|| {
            let dong = *pick(&mut self.rng, DONGS);
            let n = self.rng.random_range(1..2000);
            let m = self.rng.random_range(1..30);
            match Self::sigungu(&place) {
                Some(s) => format!("{} {} {} {}-{}", place.city.sido, s, dong, n, m),
                None => format!("{} {} {}-{}", place.city.sido, dong, n, m),
            }
        });
        let hours = if self.rng.random_bool(0.85) {
            let text: &&str = pick(&mut self.rng, kind.hours);
            OpeningHours::parse(text).ok()
        } else {
            None
        };
        let mut accepts = vec![Source::Purchased, Source::Correction];
        if self.rng.random_bool(0.95) {
            accepts.push(Source::Gift);
        }
        if self.rng.random_bool(0.9) {
            accepts.push(Source::Cashback);
        }
        if self
            .rng
            .random_bool(if kind.allowance { 0.85 } else { 0.3 })
        {
            accepts.push(Source::Allowance);
        }
        MerchantProfile {
            name,
            name_en,
            mcc: Mcc::new(kind.mcc).ok(),
            category: Some(kind.category),
            revenue: Some(self.revenue()),
            road_address: Some(road_address),
            jibun_address,
            sido: Some(place.city.sido.to_string()),
            sigungu: Self::sigungu(&place),
            location: Some(place.location),
            hours,
            accepts: SourceMask::of(&accepts),
        }
    }

    /// A complete merchant record with a status drawn like a live registry's (mostly
    /// approved, a few suspended, closed or still applying).
    pub fn merchant(&mut self, id: MerchantId, now_us: u64) -> Merchant {
        let brn = self.brn();
        let profile = self.profile();
        let (status, reason, by) = match self.rng.random_range(0..100) {
            0..93 => (Status::Approved, "approved", Actor::Operator),
            93..96 => (
                Status::Suspended,
                "registry sync: 휴업",
                Actor::RegistrySync,
            ),
            96..98 => (Status::Closed, "registry sync: 폐업", Actor::RegistrySync),
            _ => (Status::Applied, "applied", Actor::Operator),
        };
        Merchant {
            id,
            brn,
            profile,
            status,
            last_change: StatusChange {
                from: None,
                reason: reason.to_string(),
                at_us: now_us,
                by,
            },
            brn_unverified: false,
        }
    }

    /// `n` merchants with ids `first_id, first_id + 1, …`.
    pub fn merchants(&mut self, n: usize, first_id: u64, now_us: u64) -> Vec<Merchant> {
        (0..n as u64)
            .map(|i| self.merchant(MerchantId(first_id + i), now_us))
            .collect()
    }
}

/// How [`write_registry_csv`] encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvEncoding {
    Utf8,
    Utf8Bom,
    /// EUC-KR / CP949, as Korean public data portals export.
    Cp949,
}

/// Which header names [`write_registry_csv`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderStyle {
    /// Public-data style: 사업자등록번호, 상호명, 도로명주소, 위도, 경도, 영업상태 …
    Korean,
    /// brn, name, road_address, latitude, longitude, status …
    English,
}

const CSV_HEADERS_KO: [&str; 17] = [
    "사업자등록번호",
    "상호명",
    "영문상호",
    "업종코드",
    "분류코드",
    "연매출",
    "매출구간",
    "도로명주소",
    "지번주소",
    "시도",
    "시군구",
    "위도",
    "경도",
    "영업상태",
    "영업시간",
    "사용가능재원",
    "전화번호",
];
const CSV_HEADERS_EN: [&str; 17] = [
    "brn",
    "name",
    "name_en",
    "mcc",
    "category",
    "annual_revenue",
    "revenue_band",
    "road_address",
    "jibun_address",
    "sido",
    "sigungu",
    "latitude",
    "longitude",
    "status",
    "hours",
    "accepts",
    "phone",
];

/// The registry-file row of a merchant, in the column order of the headers above.
pub fn registry_row(m: &Merchant) -> [String; 17] {
    let p = &m.profile;
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    let (annual, band) = match p.revenue {
        Some(Revenue::AnnualWon(w)) => (w.get().to_string(), String::new()),
        Some(Revenue::Band(b)) => (String::new(), b.label_ko().to_string()),
        Some(Revenue::Range(r)) => (String::new(), r.label_ko()),
        None => (String::new(), String::new()),
    };
    let status = match m.status {
        Status::Applied | Status::Approved => "영업",
        Status::Suspended => "휴업",
        Status::Closed => "폐업",
    };
    let digits = m.brn.digits();
    [
        m.brn.to_string(),
        p.name.clone(),
        text(&p.name_en),
        p.mcc.map(|c| c.to_string()).unwrap_or_default(),
        p.category.map(|c| c.to_string()).unwrap_or_default(),
        annual,
        band,
        text(&p.road_address),
        text(&p.jibun_address),
        text(&p.sido),
        text(&p.sigungu),
        p.location.map(|l| l.lat_text()).unwrap_or_default(),
        p.location.map(|l| l.lon_text()).unwrap_or_default(),
        status.to_string(),
        p.hours.map(|h| h.to_string()).unwrap_or_default(),
        p.accepts.to_string(),
        format!("0{}-{}-{}", &digits[0..2], &digits[2..5], &digits[5..9]),
    ]
}

/// `text` as CP949 (EUC-KR with the UHC extension), the way Korean public data and older
/// operators' exports are written. Characters CP949 lacks become numeric references.
pub fn encode_cp949(text: &str) -> Vec<u8> {
    encoding_rs::EUC_KR.encode(text).0.into_owned()
}

/// Writes merchants as a registry file, the way a public data portal would.
pub fn write_registry_csv(
    merchants: &[Merchant],
    encoding: CsvEncoding,
    headers: HeaderStyle,
) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(merchants.len() * 220));
    let header = match headers {
        HeaderStyle::Korean => CSV_HEADERS_KO,
        HeaderStyle::English => CSV_HEADERS_EN,
    };
    // Writing to a Vec cannot fail; a failed row would only be missing from test data.
    let _ = w.write_record(header);
    for m in merchants {
        let _ = w.write_record(registry_row(m));
    }
    let utf8 = w.into_inner().unwrap_or_default();
    match encoding {
        CsvEncoding::Utf8 => utf8,
        CsvEncoding::Utf8Bom => {
            let mut out = b"\xEF\xBB\xBF".to_vec();
            out.extend_from_slice(&utf8);
            out
        }
        CsvEncoding::Cp949 => encode_cp949(&String::from_utf8_lossy(&utf8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_in_places_everything_in_that_region() {
        let mut g = Synth::new(3).only_in("부산광역시");
        for m in g.merchants(200, 1, 0) {
            assert_eq!(m.profile.sido.as_deref(), Some("부산광역시"));
            let p = m.profile.location.expect("located");
            assert!((34.9..35.5).contains(&p.lat()) && (128.7..129.4).contains(&p.lon()));
        }
    }

    #[test]
    fn deterministic_from_seed() {
        let a = Synth::new(7).merchants(50, 1, 0);
        let b = Synth::new(7).merchants(50, 1, 0);
        assert_eq!(a, b);
        let c = Synth::new(8).merchants(50, 1, 0);
        assert_ne!(a, c);
    }

    #[test]
    fn merchants_are_valid_and_look_korean() {
        let mut s = Synth::new(1);
        let ms = s.merchants(2_000, 1, 0);
        let mut brns = FxHashSet::default();
        for m in &ms {
            assert_eq!(m.profile.validate(), Ok(()), "{m:?}");
            assert!(brns.insert(m.brn));
            assert!(hangul::is_syllable(
                m.profile.name.chars().next().unwrap_or('a')
            ));
            let road = m.profile.road_address.as_deref().unwrap_or("");
            let (sido, sigungu) = crate::sync::region_from_address(road);
            assert_eq!(sido, m.profile.sido, "{road}");
            assert_eq!(sigungu, m.profile.sigungu, "{road}");
        }
        let seoul = ms
            .iter()
            .filter(|m| m.profile.sido.as_deref() == Some("서울특별시"))
            .count();
        // Seoul holds about a fifth of the weight.
        assert!((250..600).contains(&seoul), "{seoul}");
        let small = ms
            .iter()
            .filter(|m| m.profile.revenue.and_then(|r| r.band()) == Some(RevenueBand::Small))
            .count();
        assert!(small > 1_500, "{small}");
    }

    #[test]
    fn person_names_follow_surname_frequency() {
        let mut s = Synth::new(3);
        let names: Vec<String> = (0..5_000).map(|_| s.person_name()).collect();
        let kim = names.iter().filter(|n| n.starts_with('김')).count();
        assert!((900..1_300).contains(&kim), "{kim}");
        assert!(names.iter().all(|n| (3..=4).contains(&n.chars().count())));
        let c = s.citizen();
        assert!(c.address.starts_with(&c.sido));
    }
}
